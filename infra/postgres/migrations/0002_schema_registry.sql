-- Accord's schema registry (services/registry) keeps subjects, versions, schemas and compatibility
-- settings here. It logs in as accord_registry, which can read and write these tables and nothing else.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_registry') then
    create role accord_registry login nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
  end if;
end
$$;

-- One row per distinct schema (by canonical form): the id the wire format carries. Never deleted, so a
-- record written with an id always stays decodable, even after its subject versions are deleted.
create table if not exists registry_schemas (
  id          serial      primary key,
  schema_type text        not null default 'AVRO',
  canonical   text        not null,
  fingerprint text        not null unique, -- sha-256 of canonical
  created_at  timestamptz not null default now()
);

create table if not exists registry_versions (
  subject    text        not null,
  version    integer     not null check (version > 0),
  schema_id  integer     not null references registry_schemas (id),
  deleted    boolean     not null default false, -- soft delete; permanent delete removes the row
  created_at timestamptz not null default now(),
  primary key (subject, version)
);
create index if not exists registry_versions_schema_idx on registry_versions (schema_id);

-- subject '' holds the global level.
create table if not exists registry_config (
  subject       text primary key,
  compatibility text not null check (compatibility in
    ('BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'))
);
insert into registry_config (subject, compatibility) values ('', 'BACKWARD') on conflict (subject) do nothing;

grant select, insert, update, delete on registry_schemas, registry_versions, registry_config to accord_registry;
grant usage, select on sequence registry_schemas_id_seq to accord_registry;
