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
  -- Decisions are pushed to the agents that wait for them (0012).
  perform accord_decision_trigger(e);
  -- Its escalations (0013).
  execute format('grant select, insert, update on escalations to %I', r);
  execute format('grant usage on sequence escalations_id_seq to %I', r);
  -- Lineage (0015): the event that caused each proposal, and the conversation it belongs to.
  execute format('alter table %I add column if not exists causation_id text, add column if not exists correlation_id text', e || '_proposals');
  -- Its checkpoints only (0014): the group owner-<entity>; others by accord roles grant-group.
  execute format('grant accord_owner to %I', r);
  insert into checkpoint_grants (role_name, consumer_group) values (r, 'owner-' || e) on conflict do nothing;
end
$fn$;
