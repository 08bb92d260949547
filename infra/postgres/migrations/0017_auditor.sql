-- The main job's independent auditor and reporter (services/commerce) logs in as accord_auditor: it reads
-- the audit, the entities, the archive, the agents' runs and the pipelines' positions, and writes nothing.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_auditor') then
    create role accord_auditor login nosuperuser nocreatedb nocreaterole nobypassrls;
  end if;
  execute format('grant usage on schema %I to accord_auditor', current_schema());
end
$$;
grant accord_reader to accord_auditor;
grant select on pipeline_checkpoints, pipeline_replays to accord_auditor;
