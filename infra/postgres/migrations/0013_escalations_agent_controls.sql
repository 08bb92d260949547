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
create or replace function accord_owner_setup(e text) returns void
language plpgsql as $fn$
declare
  r text := 'accord_owner_' || e;
begin
  perform accord_decision_trigger(e);                                             -- 0012
  execute format('grant select, insert, update on escalations to %I', r);        -- 0013
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
