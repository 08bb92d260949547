-- services/features logs in as accord_features: it only keeps its checkpoints in Postgres (the features
-- themselves live in Redis).
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_features') then
    create role accord_features login nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
  end if;
  execute format('grant usage on schema %I to accord_features', current_schema());
end
$$;
grant select, insert, update on pipeline_checkpoints to accord_features;
