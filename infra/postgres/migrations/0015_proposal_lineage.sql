-- Lineage: each proposal keeps the event that caused it and its correlation id (from the envelope), so a
-- decision can be followed back to what triggered it (accord trace, issue #13).
do $$
declare
  t record;
begin
  for t in
    select c.table_name from information_schema.columns c
     where c.table_schema = current_schema() and c.column_name = 'idempotency_key' and c.table_name like '%\_proposals'
  loop
    execute format('alter table %I add column if not exists causation_id text, add column if not exists correlation_id text', t.table_name);
  end loop;
end
$$;

-- Owners created from now on get the columns with their tables.
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
  execute format('alter table %I add column if not exists causation_id text, add column if not exists correlation_id text',
    e || '_proposals');                                                           -- 0015
end
$fn$;

