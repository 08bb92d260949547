-- The feature service rebuilds a view whose Redis state was lost (a restart without persistence, a flush)
-- by replaying the view's consumer group from the start of retention (packages/sdk/src/features/rebuild.ts):
-- it records that replay as an operator's would be, and an incident of kind 'store-lost' per partition.
grant select, insert on pipeline_replays to accord_features;
grant usage on sequence pipeline_replays_id_seq to accord_features;

alter table pipeline_incidents drop constraint if exists pipeline_incidents_kind_check;
alter table pipeline_incidents add constraint pipeline_incidents_kind_check
  check (kind in ('identity-changed', 'out-of-range', 'bound', 'store-lost'));

-- An agent refuses a feature whose store is lost or rebuilding whatever its freshness objective, and a
-- feature read without one has none to record.
alter table agent_refusals alter column objective_ms drop not null;
