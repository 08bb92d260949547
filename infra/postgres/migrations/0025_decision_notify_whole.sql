-- A committed decision is told whole on accord_decisions (its reason and versions too), so an agent
-- waiting for it needs no read of the audit after being told (bench/decision-roundtrip: one round trip
-- fewer per decision). NOTIFY payloads stop at 8000 bytes: a decision whose long reason would not fit is
-- told as before (ids and outcome, no "whole"), and the waiter reads it from the audit.
create or replace function accord_notify_decision() returns trigger
language plpgsql as $fn$
declare
  payload text;
begin
  payload := json_build_object(
    'entityType', tg_argv[0], 'proposalId', new.proposal_id, 'decisionId', new.decision_id,
    'outcome', new.outcome, 'reason', new.reason, 'versionBefore', new.version_before,
    'versionAfter', new.version_after, 'conflictingVersion', new.conflicting_version, 'whole', true)::text;
  if octet_length(payload) > 7900 then
    payload := json_build_object(
      'entityType', tg_argv[0], 'proposalId', new.proposal_id, 'decisionId', new.decision_id,
      'outcome', new.outcome)::text;
  end if;
  perform pg_notify('accord_decisions', payload);
  return new;
end
$fn$;
