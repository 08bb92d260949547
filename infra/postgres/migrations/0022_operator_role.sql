-- Operator commands (accord replay, rebind, checkpoints, consumers, dlq, pause, roles, deploy, trace, ps, …)
-- log in as accord_operator, not as the superuser (docs/security.md): it reads what the reader reads and
-- the pipeline bookkeeping, moves any group's checkpoints, records replays and dead-letter actions,
-- pauses agents, grants groups, registers agent keys, and creates agents' roles (CREATEROLE, admin of
-- accord_agent). It owns nothing and migrates nothing: `accord up` migrates with DATABASE_URL.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_operator') then
    create role accord_operator login nosuperuser nocreatedb createrole nobypassrls;
  end if;
end
$$;
grant accord_reader to accord_operator;
grant accord_agent to accord_operator with admin option;
do $$
begin
  execute format('grant usage on schema %I to accord_operator', current_schema());
end
$$;

grant select, insert, update, delete on pipeline_checkpoints to accord_operator;
drop policy if exists checkpoints_operator on pipeline_checkpoints;
create policy checkpoints_operator on pipeline_checkpoints for all to accord_operator using (true) with check (true);
grant select, insert on pipeline_replays, pipeline_dead_letter_actions, pipeline_incidents to accord_operator;
grant usage on sequence pipeline_replays_id_seq, pipeline_incidents_id_seq to accord_operator;
grant select, insert, update on agent_controls, agent_keys to accord_operator;
grant select, insert on checkpoint_grants to accord_operator;
grant select on accord_schema_migrations to accord_operator;
