-- Agents as services. Each agent logs in as its own role (accord_agent_<name>), a member of accord_agent:
-- read-only on entities, audit, archive, features and contracts (accord_reader); it advances only the
-- checkpoints of its own consumer groups (row-level security on pipeline_checkpoints), journals only its
-- own side effects, and records only its own refusals. It changes entities only by proposing.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_agent') then
    create role accord_agent nologin nosuperuser nocreatedb nocreaterole nobypassrls;
  end if;
end
$$;
grant accord_reader to accord_agent;

-- The consumer groups each agent role may advance (written by deploy, as the migration owner).
create table if not exists agent_groups (
  agent_role     text not null,
  consumer_group text not null,
  primary key (agent_role, consumer_group)
);
grant select on agent_groups to accord_reader;

-- External calls (a model, an email, a payment API) journaled per (agent, event, name): a replay or a
-- redelivery gets the recorded result back instead of calling again, unless the replay asks to recompute.
create table if not exists agent_side_effects (
  agent       text        not null,
  event_id    text        not null,
  name        text        not null,
  result      jsonb       not null,
  calls       integer     not null default 1,
  recorded_at timestamptz not null default now(),
  primary key (agent, event_id, name)
);

-- An agent that would decide on context staler than its objective refuses instead, and says so here.
create table if not exists agent_refusals (
  id           bigserial   primary key,
  agent        text        not null,
  event_id     text        not null,
  feature      text        not null,
  staleness_ms bigint,
  objective_ms bigint      not null,
  reason       text        not null,
  refused_at   timestamptz not null default now()
);
create index if not exists agent_refusals_agent_idx on agent_refusals (agent, refused_at);

grant select on agent_side_effects, agent_refusals to accord_reader;
grant select, insert, update on agent_side_effects to accord_agent;
grant select, insert on agent_refusals to accord_agent;
grant usage on sequence agent_refusals_id_seq to accord_agent;
grant select, insert, update on pipeline_checkpoints to accord_agent;
grant select, insert on pipeline_incidents to accord_agent;
grant usage on sequence pipeline_incidents_id_seq to accord_agent;
grant select on pipeline_replays to accord_agent;

alter table agent_side_effects enable row level security;
drop policy if exists agent_side_effects_read on agent_side_effects;
create policy agent_side_effects_read on agent_side_effects for select to accord_reader using (true);
drop policy if exists agent_side_effects_own on agent_side_effects;
create policy agent_side_effects_own on agent_side_effects for all to accord_agent
  using ('accord_agent_' || agent = current_user) with check ('accord_agent_' || agent = current_user);

alter table agent_refusals enable row level security;
drop policy if exists agent_refusals_read on agent_refusals;
create policy agent_refusals_read on agent_refusals for select to accord_reader using (true);
drop policy if exists agent_refusals_own on agent_refusals;
create policy agent_refusals_own on agent_refusals for insert to accord_agent
  with check ('accord_agent_' || agent = current_user);

-- Checkpoints: every service role keeps its rights; an agent role reads all rows (positions are not
-- secret) and writes only the rows of its own groups.
alter table pipeline_checkpoints enable row level security;
drop policy if exists checkpoints_services on pipeline_checkpoints;
create policy checkpoints_services on pipeline_checkpoints for all
  using (not pg_has_role(current_user, 'accord_agent', 'member'))
  with check (not pg_has_role(current_user, 'accord_agent', 'member'));
drop policy if exists checkpoints_agents_read on pipeline_checkpoints;
create policy checkpoints_agents_read on pipeline_checkpoints for select to accord_agent using (true);
drop policy if exists checkpoints_agents_own on pipeline_checkpoints;
create policy checkpoints_agents_own on pipeline_checkpoints for all to accord_agent
  using (consumer_group in (select g.consumer_group from agent_groups g where g.agent_role = current_user))
  with check (consumer_group in (select g.consumer_group from agent_groups g where g.agent_role = current_user));

-- A replay may ask agents to make their side effects again (accord replay --recompute).
alter table pipeline_replays add column if not exists recompute boolean not null default false;

-- Decisions are pushed: each committed decision is told on the accord_decisions channel (NOTIFY is
-- delivered at commit, so a rolled-back decision is never told).
create or replace function accord_notify_decision() returns trigger
language plpgsql as $fn$
begin
  perform pg_notify('accord_decisions', json_build_object(
    'entityType', tg_argv[0], 'proposalId', new.proposal_id, 'decisionId', new.decision_id,
    'outcome', new.outcome)::text);
  return new;
end
$fn$;

create or replace function accord_decision_trigger(p_entity_type text) returns void
language plpgsql as $fn$
begin
  if p_entity_type !~ '^[a-z][a-z0-9_]{0,40}$' then
    raise exception 'invalid entity type "%"', p_entity_type;
  end if;
  execute format('drop trigger if exists %I on %I', p_entity_type || '_decisions_notify', p_entity_type || '_decisions');
  execute format('create trigger %I after insert on %I for each row execute function accord_notify_decision(%L)',
    p_entity_type || '_decisions_notify', p_entity_type || '_decisions', p_entity_type);
end
$fn$;

select accord_decision_trigger(t) from unnest(array['customer', 'order', 'payment', 'stock_item']) as t;

-- What every owner gets besides its tables and role. Later migrations redefine this one small function
-- (each version doing all that the earlier ones did), not accord_create_owner.
create or replace function accord_owner_setup(e text) returns void
language plpgsql as $fn$
begin
  -- Decisions are pushed to the agents that wait for them.
  perform accord_decision_trigger(e);
end
$fn$;

-- Owners created from now on get the setup with their tables.
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
  -- What later migrations add to every owner (0012: pushed decisions; see accord_owner_setup).
  perform accord_owner_setup(e);
end
$fn$;

