-- The operator records a dead letter's latest action with an upsert (insert … on conflict do update),
-- which Postgres authorizes as an update too.
grant update on pipeline_dead_letter_actions to accord_operator;
