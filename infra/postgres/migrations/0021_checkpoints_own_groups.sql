-- Every service role advances only its own consumer groups' checkpoints, as agents (0012) and owners
-- (0014) already do: the archive, the features and the log pipeline get grants too, and the policy that
-- let any other role move any row goes (docs/security.md). A grant with '%' in it is a LIKE pattern: an
-- operator names an archive's group (archive --group ops-archive-2), and it keeps 'archive' in it.
create or replace function accord_may_advance(who text, g text) returns boolean
language sql stable as $fn$
  select exists (
    select 1 from checkpoint_grants c
     where c.role_name = who
       and (c.consumer_group = g or (strpos(c.consumer_group, '%') > 0 and g like c.consumer_group))
  )
$fn$;

insert into checkpoint_grants (role_name, consumer_group) values
  ('accord_archive', '%archive%'),
  ('accord_features', '%features%'),
  ('accord_logs', '%log-%')
on conflict do nothing;
grant select on checkpoint_grants to accord_archive, accord_features, accord_logs;
grant execute on function accord_may_advance(text, text) to accord_archive, accord_features, accord_logs;

drop policy if exists checkpoints_services on pipeline_checkpoints;
drop policy if exists checkpoints_read on pipeline_checkpoints;
create policy checkpoints_read on pipeline_checkpoints for select using (true);
drop policy if exists checkpoints_services_own on pipeline_checkpoints;
create policy checkpoints_services_own on pipeline_checkpoints for all
  to accord_archive, accord_features, accord_logs
  using (accord_may_advance(current_user, consumer_group))
  with check (accord_may_advance(current_user, consumer_group));

