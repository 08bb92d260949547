-- Escalations: a proposal an owner decided to ESCALATE waits here for a person. An operator resolves it
-- with `accord escalations resolve`, which sends a resolution proposal to the same owner: the owner
-- applies it in its own transaction (it stays the single writer), audits it as a decision, and closes the
-- escalation. Each owner role writes only its own entity type's escalations (row-level security).
create table if not exists escalations (
  id              bigserial   primary key,
  entity_type     text        not null,
  entity_id       text        not null,
  proposal_id     text        not null unique,
  decision_id     text        not null,
  agent           text        not null,
  action          text        not null,
  change          jsonb       not null,
  reason          text,
  -- where a resolution goes: the owner's proposals topic
  topic           text        not null,
  status          text        not null default 'open' check (status in ('open', 'accepted', 'rejected')),
  escalated_at    timestamptz not null default now(),
  resolved_by     text,
  resolution      text,
  resolution_decision_id text,
  resolved_at     timestamptz
);
create index if not exists escalations_open_idx on escalations (status, escalated_at);

grant select on escalations to accord_reader;
do $$
declare
  r record;
begin
  for r in select rolname from pg_roles where rolname like 'accord\_owner\_%' loop
    execute format('grant select, insert, update on escalations to %I', r.rolname);
    execute format('grant usage on sequence escalations_id_seq to %I', r.rolname);
  end loop;
end
$$;

alter table escalations enable row level security;
drop policy if exists escalations_read on escalations;
create policy escalations_read on escalations for select using (true);
drop policy if exists escalations_owner on escalations;
create policy escalations_owner on escalations for all
  using ('accord_owner_' || entity_type = current_user)
  with check ('accord_owner_' || entity_type = current_user);

-- Owners created from now on can write their escalations.
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
end
$fn$;

-- The kill switch: an operator pauses an agent fleet-wide (`accord pause <agent>`); every replica stops
-- consuming and proposing, keeps its checkpoints, and goes on when resumed. Told on accord_agent_controls.
create table if not exists agent_controls (
  agent      text        primary key,
  paused     boolean     not null,
  reason     text,
  changed_by text        not null,
  changed_at timestamptz not null default now()
);
grant select on agent_controls to accord_reader;

create or replace function accord_notify_agent_control() returns trigger
language plpgsql as $fn$
begin
  perform pg_notify('accord_agent_controls', json_build_object('agent', new.agent, 'paused', new.paused)::text);
  return new;
end
$fn$;
drop trigger if exists agent_controls_notify on agent_controls;
create trigger agent_controls_notify after insert or update on agent_controls
  for each row execute function accord_notify_agent_control();
