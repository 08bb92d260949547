-- The registry speaks today's Confluent API: a schema is kept as registered (and canonicalized only when
-- asked: normalize), with its references, metadata and rule set; its identity (and id) covers all four.
-- Existing rows keep their canonical text as the registered one and keep their ids.
alter table registry_schemas add column if not exists schema_text text;
alter table registry_schemas add column if not exists refs jsonb not null default '[]';
alter table registry_schemas add column if not exists metadata jsonb;
alter table registry_schemas add column if not exists rule_set jsonb;
update registry_schemas set schema_text = canonical where schema_text is null;
alter table registry_schemas alter column schema_text set not null;

-- Per-subject (and global, subject '') settings beside the compatibility level: normalize, the
-- compatibility group, default and override metadata and rule sets.
alter table registry_config alter column compatibility drop not null;
alter table registry_config add column if not exists normalize boolean;
alter table registry_config add column if not exists compatibility_group text;
alter table registry_config add column if not exists default_metadata jsonb;
alter table registry_config add column if not exists override_metadata jsonb;
alter table registry_config add column if not exists default_rule_set jsonb;
alter table registry_config add column if not exists override_rule_set jsonb;

-- READWRITE, READONLY, READONLY_OVERRIDE or IMPORT, globally (subject '') and per subject. IMPORT takes
-- ids and versions from the caller: migrations from another registry keep them.
create table if not exists registry_mode (
  subject text primary key,
  mode    text not null check (mode in ('READWRITE', 'READONLY', 'READONLY_OVERRIDE', 'IMPORT'))
);
insert into registry_mode (subject, mode) values ('', 'READWRITE') on conflict (subject) do nothing;

grant select, insert, update, delete on registry_mode to accord_registry;
