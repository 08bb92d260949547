-- Features over SQL, for analysts and for owners inside their transactions: read-only views that compute
-- the reference all-time features (services/features/src/views.ts) from the event archive, with the event
-- time they reflect. Redis serves the same values to agents in real time; these are the SQL face of them.
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_reader') then
    create role accord_reader nologin nosuperuser nocreatedb nocreaterole nobypassrls;
  end if;
  execute format('grant usage on schema %I to accord_reader', current_schema());
end
$$;

create or replace view feature_values as
  select 'customer'::text as entity_type, payload->>'customerId' as entity_id, 'order_count@1'::text as feature,
         count(*)::numeric as value, max(occurred_at) as as_of
    from event_archive where event_type = 'accord.commerce.OrderPlaced' group by payload->>'customerId'
  union all
  select 'customer', payload->>'customerId', 'lifetime_value_cents@1', sum((payload->>'totalCents')::numeric), max(occurred_at)
    from event_archive where event_type = 'accord.commerce.OrderPlaced' group by payload->>'customerId'
  union all
  select 'order', entity_id, 'max_discount_percent@1', max((payload->>'percent')::numeric), max(occurred_at)
    from event_archive where event_type = 'accord.commerce.DiscountApproved' group by entity_id
  union all
  select * from (
    select distinct on (entity_id) 'stock_item'::text, entity_id, 'stock_available@1'::text,
           (payload->>'onHandAfter')::numeric - (payload->>'reservedAfter')::numeric, occurred_at
      from event_archive where event_type = 'accord.commerce.StockReserved'
     order by entity_id, occurred_at desc, kafka_offset desc
  ) latest_reservation;

-- One entity's features, e.g. select * from features_of('customer', 'c-42').
create or replace function features_of(p_entity_type text, p_entity_id text)
returns table (feature text, value numeric, as_of timestamptz)
language sql stable as $$
  select feature, value, as_of from feature_values where entity_type = p_entity_type and entity_id = p_entity_id order by feature
$$;

grant select on event_archive, feature_values to accord_reader;
grant execute on function features_of(text, text) to accord_reader;
