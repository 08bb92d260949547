-- Every Accord consumer is a pipeline: a named consumer group whose position per topic-partition lives here.
-- This table is the source of truth for replay; Kafka's committed offsets mirror it.
create table if not exists pipeline_checkpoints (
  pipeline_name    text        not null,
  consumer_group   text        not null,
  topic            text        not null,
  partition        integer     not null check (partition >= 0),
  -- 'offset' (ID-based), 'timestamp' (event time) or 'window' (last closed aggregation window)
  checkpoint_type  text        not null default 'offset' check (checkpoint_type in ('offset', 'timestamp', 'window')),
  checkpoint_value text        not null,
  -- the next Kafka offset to consume on this partition
  kafka_offset     bigint      not null check (kafka_offset >= 0),
  -- fencing: the consumer-group generation (or epoch) of the writer; a lower one may not overwrite
  generation       integer     not null default 0,
  updated_at       timestamptz not null default now(),
  primary key (consumer_group, topic, partition)
);

create index if not exists pipeline_checkpoints_pipeline_idx on pipeline_checkpoints (pipeline_name);
