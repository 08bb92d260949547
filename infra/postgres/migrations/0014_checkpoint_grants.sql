-- Least privilege for checkpoints, for owners as for agents: a role that is a member of accord_agent or
-- accord_owner advances only the checkpoints of the consumer groups granted to it here. The table agents
-- used since 0012 (agent_groups) becomes the one list for both.
do $$
begin
  if to_regclass('agent_groups') is not null and to_regclass('checkpoint_grants') is null then
    alter table agent_groups rename to checkpoint_grants;
    alter table checkpoint_grants rename column agent_role to role_name;
  end if;
  if not exists (select from pg_roles where rolname = 'accord_owner') then
    create role accord_owner nologin nosuperuser nocreatedb nocreaterole nobypassrls;
  end if;
end
$$;
create table if not exists checkpoint_grants (
  role_name      text not null,
  consumer_group text not null,
  primary key (role_name, consumer_group)
);
grant select on checkpoint_grants to accord_reader;

-- Every owner role joins accord_owner, with its default group owner-<entity>.
do $$
declare
  r record;
begin
  for r in select rolname from pg_roles where rolname like 'accord\_owner\_%' loop
    execute format('grant accord_owner to %I', r.rolname);
    insert into checkpoint_grants (role_name, consumer_group)
      values (r.rolname, 'owner-' || substr(r.rolname, length('accord_owner_') + 1)) on conflict do nothing;
  end loop;
end
$$;

drop policy if exists checkpoints_services on pipeline_checkpoints;
create policy checkpoints_services on pipeline_checkpoints for all
  using (not pg_has_role(current_user, 'accord_agent', 'member') and not pg_has_role(current_user, 'accord_owner', 'member'))
  with check (not pg_has_role(current_user, 'accord_agent', 'member') and not pg_has_role(current_user, 'accord_owner', 'member'));
drop policy if exists checkpoints_agents_own on pipeline_checkpoints;
create policy checkpoints_agents_own on pipeline_checkpoints for all to accord_agent
  using (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user))
  with check (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user));
drop policy if exists checkpoints_owners_read on pipeline_checkpoints;
create policy checkpoints_owners_read on pipeline_checkpoints for select to accord_owner using (true);
drop policy if exists checkpoints_owners_own on pipeline_checkpoints;
create policy checkpoints_owners_own on pipeline_checkpoints for all to accord_owner
  using (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user))
  with check (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user));

-- Owners created from now on join accord_owner with their default group.
create or replace function accord_owner_setup(e text) returns void
language plpgsql as $fn$
declare
  r text := 'accord_owner_' || e;
begin
  perform accord_decision_trigger(e);                                             -- 0012
  execute format('grant select, insert, update on escalations to %I', r);        -- 0013
  execute format('grant usage on sequence escalations_id_seq to %I', r);
  execute format('grant accord_owner to %I', r);                                 -- 0014
  insert into checkpoint_grants (role_name, consumer_group) values (r, 'owner-' || e) on conflict do nothing;
end
$fn$;

