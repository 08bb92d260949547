-- Observability (issue #13). Decision lineage needs what an agent looked at when it decided: one row per
-- (agent, triggering event) with the features it read and their staleness, the contracts it evaluated,
-- the proposals it sent and the events it emitted, its trace id and how long it took. A redelivery or a
-- replay rewrites the row (the latest handling is the one that counts; the proposals are deduplicated).
create table if not exists agent_runs (
  agent          text             not null,
  event_id       text             not null,
  event_type     text             not null,
  entity_type    text,
  entity_id      text,
  topic          text             not null,
  partition      integer          not null,
  kafka_offset   bigint           not null,
  correlation_id text,
  trace_id       text,
  outcome        text             not null check (outcome in ('proposed', 'idle', 'refused', 'failed')),
  reads          jsonb            not null default '[]',
  contracts      jsonb            not null default '[]',
  proposals      jsonb            not null default '[]',
  emitted        jsonb            not null default '[]',
  error          text,
  latency_ms     double precision,
  handled_at     timestamptz      not null default now(),
  primary key (agent, event_id)
);
create index if not exists agent_runs_handled_idx on agent_runs (handled_at);
create index if not exists agent_runs_correlation_idx on agent_runs (correlation_id);

grant select on agent_runs to accord_reader;
grant select, insert, update on agent_runs to accord_agent;
alter table agent_runs enable row level security;
drop policy if exists agent_runs_read on agent_runs;
create policy agent_runs_read on agent_runs for select to accord_reader using (true);
drop policy if exists agent_runs_own on agent_runs;
create policy agent_runs_own on agent_runs for all to accord_agent
  using ('accord_agent_' || agent = current_user) with check ('accord_agent_' || agent = current_user);

-- The outbox keeps the trace context of the decision that queued each event, so the relay publishes it
-- in the decision's trace (one trace from the triggering event to the decision event's consumers).
do $$
declare
  t record;
begin
  for t in
    select c.table_name from information_schema.columns c
     where c.table_schema = current_schema() and c.column_name = 'published_at' and c.table_name like '%\_outbox'
  loop
    execute format('alter table %I add column if not exists traceparent text', t.table_name);
  end loop;
end
$$;

create or replace function accord_owner_setup(e text) returns void
language plpgsql as $fn$
declare
  r text := 'accord_owner_' || e;
begin
  perform accord_decision_trigger(e);                                             -- 0012
  execute format('grant select, insert, update on escalations to %I', r);        -- 0013
  execute format('grant usage on sequence escalations_id_seq to %I', r);
  execute format('grant accord_owner to %I', r);                                 -- 0014
  insert into checkpoint_grants (role_name, consumer_group) values (r, 'owner-' || e) on conflict do nothing;
  execute format('alter table %I add column if not exists causation_id text, add column if not exists correlation_id text',
    e || '_proposals');                                                           -- 0015
  execute format('alter table %I add column if not exists traceparent text', e || '_outbox'); -- 0016
end
$fn$;
