-- The replay a partition is in (pipeline_replays.id), while replay_resume is set. Derived state keyed by it
-- (feature views) can tell "the first time this replay touches this key" from a redelivery within it.
alter table pipeline_checkpoints add column if not exists replay_id bigint;
