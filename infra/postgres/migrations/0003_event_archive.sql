-- The event archive: every event of every domain topic, append-only, queryable by entity and time.
-- services/archive writes it as accord_archive, which may insert and read but never update or delete.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_archive') then
    create role accord_archive login nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
  end if;
  execute format('grant usage on schema %I to accord_archive', current_schema());
end
$$;

-- Partitioned by month of occurred_at. Uniqueness must include the partition key, so the key is
-- (event_id, occurred_at): an event's occurred_at is part of its immutable envelope, so a redelivered
-- event always collides with itself and is dropped (on conflict do nothing).
create table if not exists event_archive (
  event_id          text        not null,
  event_type        text        not null,
  entity_type       text        not null,
  entity_id         text        not null,
  occurred_at       timestamptz not null,
  producer          text        not null,
  causation_id      text,
  correlation_id    text,
  contract_versions text[]      not null default '{}',
  topic             text        not null,
  partition         integer     not null,
  kafka_offset      bigint      not null,
  schema_id         integer     not null,
  payload           jsonb       not null,
  archived_at       timestamptz not null default now(),
  primary key (event_id, occurred_at)
) partition by range (occurred_at);

create index if not exists event_archive_entity_idx on event_archive (entity_type, entity_id, occurred_at);
create index if not exists event_archive_type_idx on event_archive (event_type, occurred_at);

do $$
declare
  m date := date '2025-01-01';
begin
  while m < date '2029-01-01' loop
    execute format('create table if not exists %I partition of event_archive for values from (%L) to (%L)',
                   'event_archive_' || to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
    m := (m + interval '1 month')::date;
  end loop;
end
$$;
-- Anything outside the monthly partitions (old imports, far-future clocks) still lands somewhere.
create table if not exists event_archive_default partition of event_archive default;

grant select, insert on event_archive to accord_archive;
grant select, insert, update on pipeline_checkpoints to accord_archive;
