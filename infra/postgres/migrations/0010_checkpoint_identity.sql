-- A checkpoint knows which log it points into: the Kafka cluster id and the topic id (a topic deleted and
-- created again gets a new id). A pipeline refuses a partition whose live identity differs, until an
-- operator rebinds it (`accord checkpoints rebind`). Rows written before this migration have nulls: the
-- first claim binds them (and says so).
alter table pipeline_checkpoints add column if not exists cluster_id text;
alter table pipeline_checkpoints add column if not exists topic_id text;
-- Why the pipeline does not process this partition (identity changed, offset out of range), or null.
alter table pipeline_checkpoints add column if not exists halted_reason text;
alter table pipeline_checkpoints add column if not exists halted_at timestamptz;

-- What a pipeline met and did about it: nothing is reset, skipped or refused without a row here.
--   identity-changed  the checkpoint belongs to another cluster or topic incarnation: refused (halted)
--   out-of-range      the checkpoint is outside the log (retention, truncation): halted, or moved by policy
--   bound             a checkpoint without identity (older rows) was bound to the live log
create table if not exists pipeline_incidents (
  id             bigserial   primary key,
  pipeline_name  text        not null,
  consumer_group text        not null,
  topic          text        not null,
  partition      integer     not null,
  kind           text        not null check (kind in ('identity-changed', 'out-of-range', 'bound')),
  -- halted: the partition waits for an operator; moved: the policy moved the checkpoint; none: recorded only
  action         text        not null check (action in ('halted', 'moved', 'none')),
  checkpoint     bigint      not null,  -- the checkpoint when it was found
  log_start      bigint,                -- the log's earliest offset then
  log_end        bigint,                -- the log's end then
  moved_to       bigint,                -- the new checkpoint when the policy moved it
  lost           bigint,                -- offsets that will never be processed (deleted before they were)
  detail         text        not null,
  detected_at    timestamptz not null default now()
);
create index if not exists pipeline_incidents_group_idx on pipeline_incidents (consumer_group, detected_at);

-- Rebinds are recorded with replays: same who/when/plan, a different kind.
alter table pipeline_replays add column if not exists kind text not null default 'replay'
  check (kind in ('replay', 'rebind'));

-- Every role that moves checkpoints records its incidents.
do $$
declare r record;
begin
  for r in
    select distinct grantee from information_schema.role_table_grants
     where table_schema = current_schema() and table_name = 'pipeline_checkpoints'
       and privilege_type = 'INSERT' and grantee like 'accord\_%'
  loop
    execute format('grant select, insert on pipeline_incidents to %I', r.grantee);
    execute format('grant usage on sequence pipeline_incidents_id_seq to %I', r.grantee);
  end loop;
end
$$;
grant select on pipeline_incidents to accord_reader;
