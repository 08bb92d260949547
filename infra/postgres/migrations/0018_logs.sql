-- The reference log pipeline (services/logs: parse → summarize → detect) logs in as accord_logs. The
-- summarizer and the detector are transactional windowed/checkpointed pipelines: what they write here
-- commits with their checkpoints, and each table doubles as its stage's outbox (published_at), relayed
-- to Kafka with the row's deterministic id as the event id.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_logs') then
    create role accord_logs login nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
  end if;
  execute format('grant usage on schema %I to accord_logs', current_schema());
end
$$;

-- One row per (service, window, logic): the id is derived from them, so a window closed again (after a
-- crash, or by a replay with the same logic) writes nothing new; another logic writes a new row beside.
create table if not exists log_summaries (
  id                 uuid        primary key,
  service            text        not null,
  window_start       timestamptz not null,
  window_end         timestamptz not null,
  logic              text        not null,
  lines              integer     not null,
  counts             jsonb       not null,
  top_messages       jsonb       not null,
  summary            text        not null,
  last_source_offset bigint      not null,
  duplicates         integer     not null default 0,
  late               integer     not null default 0,
  consumer_group     text        not null,
  created_at         timestamptz not null default now(),
  published_at       timestamptz,
  unique (service, window_start, logic)
);
create index if not exists log_summaries_unpublished on log_summaries (created_at) where published_at is null;

create table if not exists log_baselines (
  service         text             not null,
  logic           text             not null,
  windows         integer          not null,
  mean            double precision not null,
  variance        double precision not null,
  last_window_end timestamptz      not null,
  primary key (service, logic)
);

create table if not exists log_anomalies (
  id           uuid             primary key,
  summary_id   uuid             not null,
  service      text             not null,
  logic        text             not null,
  metric       text             not null,
  observed     double precision not null,
  expected     double precision not null,
  score        double precision not null,
  window_start timestamptz      not null,
  window_end   timestamptz      not null,
  created_at   timestamptz      not null default now(),
  published_at timestamptz
);
create index if not exists log_anomalies_unpublished on log_anomalies (created_at) where published_at is null;

grant select, insert, update on log_summaries, log_baselines, log_anomalies to accord_logs;
grant select on log_summaries, log_baselines, log_anomalies to accord_reader;
grant select, insert, update on pipeline_checkpoints to accord_logs;
grant select, insert on pipeline_incidents to accord_logs;
grant usage on sequence pipeline_incidents_id_seq to accord_logs;
grant select on pipeline_replays to accord_logs;
-- The summarizer's journaled model calls (window.close ctx.sideEffect), under its pipeline's name.
grant select, insert, update on agent_side_effects to accord_logs;
drop policy if exists agent_side_effects_logs on agent_side_effects;
create policy agent_side_effects_logs on agent_side_effects for all to accord_logs
  using (agent like 'log-%') with check (agent like 'log-%');

-- The auditor's reports count dead letters with what operators did about them.
grant select on pipeline_dead_letter_actions to accord_auditor;
