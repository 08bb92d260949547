-- Single writer: one owner service per entity type is the only writer of that entity. Each entity type gets
-- its own tables and its own login role, which can write those tables and nothing else (tested for every
-- owned table). Proposals and decisions are insert-only audit; the outbox carries decision events to Kafka.
create or replace function accord_create_owner(p_entity_type text) returns void
language plpgsql as $fn$
declare
  e text := p_entity_type;
  r text := 'accord_owner_' || p_entity_type;
begin
  if e !~ '^[a-z][a-z0-9_]{0,40}$' then
    raise exception 'invalid entity type "%"', e;
  end if;
  execute format($q$
    create table if not exists %1$I (
      entity_id  text        primary key,
      version    bigint      not null default 0,
      state      jsonb       not null default '{}',
      updated_at timestamptz not null default now()
    )$q$, e || '_entities');
  execute format($q$
    create table if not exists %1$I (
      proposal_id      text        primary key,
      idempotency_key  text        not null unique,
      entity_id        text        not null,
      agent            text        not null,
      action           text        not null,
      change           jsonb       not null,
      expected_version bigint,
      reason           text,
      context          jsonb,
      proposed_at      timestamptz not null,
      received_at      timestamptz not null default now()
    )$q$, e || '_proposals');
  execute format($q$
    create table if not exists %1$I (
      decision_id         text        primary key,
      proposal_id         text        not null unique,
      entity_id           text        not null,
      agent               text        not null,
      action              text        not null,
      outcome             text        not null check (outcome in ('ACCEPTED', 'REJECTED', 'ESCALATED')),
      reason              text,
      version_before      bigint      not null,
      version_after       bigint,
      conflicting_version bigint,
      state_after         jsonb,
      contract_versions   text[]      not null default '{}',
      decided_at          timestamptz not null default now()
    )$q$, e || '_decisions');
  execute format('create index if not exists %I on %I (entity_id, decided_at)', e || '_decisions_entity_idx', e || '_decisions');
  execute format($q$
    create table if not exists %1$I (
      id           bigserial   primary key,
      decision_id  text        not null unique,
      entity_id    text        not null,
      payload      jsonb       not null,
      created_at   timestamptz not null default now(),
      published_at timestamptz
    )$q$, e || '_outbox');
  if not exists (select from pg_roles where rolname = r) then
    execute format('create role %I login inherit nosuperuser nocreatedb nocreaterole nobypassrls', r);
  end if;
  execute format('grant usage on schema %I to %I', current_schema(), r);
  -- Owners read everything agents can read (other entities, contracts, features), and write only their own.
  execute format('grant accord_reader to %I', r);
  execute format('grant select, insert, update on %I to %I', e || '_entities', r);
  execute format('grant select, insert on %I, %I to %I', e || '_proposals', e || '_decisions', r);
  execute format('grant select, insert, update on %I to %I', e || '_outbox', r);
  execute format('grant usage, select on sequence %I to %I', e || '_outbox_id_seq', r);
  execute format('grant select, insert, update on pipeline_checkpoints to %I', r);
  -- Everyone else reads.
  execute format('grant select on %I, %I, %I to accord_reader', e || '_entities', e || '_proposals', e || '_decisions');
end
$fn$;

select accord_create_owner(t) from unnest(array['customer', 'order', 'payment', 'stock_item']) as t;
