-- Replay bookkeeping. While a partition re-processes events, replay_resume is the position it had before
-- the replay (events below it are replays: handlers see ctx.replay) and replay_until, when set, is where
-- re-processing stops and the pipeline jumps back to replay_resume to continue live.
alter table pipeline_checkpoints add column if not exists replay_resume bigint;
alter table pipeline_checkpoints add column if not exists replay_until bigint;

-- Every replay, who asked and what moved.
create table if not exists pipeline_replays (
  id             bigserial   primary key,
  consumer_group text        not null,
  requested_by   text        not null,
  requested_at   timestamptz not null default now(),
  target         text        not null, -- e.g. time 2026-11-24T10:00:00Z, offset 42, earliest
  until_time     timestamptz,
  while_running  boolean     not null,
  plan           jsonb       not null  -- per partition: topic, partition, from, to, until, events
);
create index if not exists pipeline_replays_group_idx on pipeline_replays (consumer_group, requested_at);

-- What operators did with dead letters (the records stay in the <group>.dlq topic).
create table if not exists pipeline_dead_letter_actions (
  consumer_group text        not null,
  dlq_offset     bigint      not null,
  action         text        not null check (action in ('replayed', 'discarded')),
  acted_by       text        not null,
  acted_at       timestamptz not null default now(),
  primary key (consumer_group, dlq_offset)
);
