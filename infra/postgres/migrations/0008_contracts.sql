-- Semantic contracts: versioned business definitions every agent (through the SDK) and every owner (inside
-- its transaction, through SQL) evaluates the same way. A definition is a small JSON expression:
--   {"var": "on_hand"}, {"all": [...]}, {"any": [...]}, {"not": e}, {"eq"|"gt"|"gte"|"lt"|"lte": [a, b]},
--   {"add"|"sub"|"mul": [a, b]}, and JSON literals. A new version is a new row; old ones keep working.
create table if not exists contracts (
  name         text        not null check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  version      integer     not null check (version > 0),
  owner        text        not null,
  description  text        not null,
  definition   jsonb       not null,
  golden_cases jsonb       not null default '[]', -- [{"input": {...}, "expected": true|false, "why": "..."}]
  created_at   timestamptz not null default now(),
  primary key (name, version)
);

create or replace function accord_eval(expr jsonb, input jsonb) returns jsonb
language plpgsql immutable as $fn$
declare
  op   text;
  args jsonb;
  item jsonb;
  a    jsonb;
  b    jsonb;
begin
  if expr is null or jsonb_typeof(expr) <> 'object' then
    return expr;
  end if;
  select k into op from jsonb_object_keys(expr) as k limit 1;
  args := expr -> op;
  if op = 'var' then
    return coalesce(input -> (args #>> '{}'), 'null'::jsonb);
  elsif op = 'all' then
    for item in select value from jsonb_array_elements(args) loop
      if accord_eval(item, input) is distinct from 'true'::jsonb then return 'false'::jsonb; end if;
    end loop;
    return 'true'::jsonb;
  elsif op = 'any' then
    for item in select value from jsonb_array_elements(args) loop
      if accord_eval(item, input) = 'true'::jsonb then return 'true'::jsonb; end if;
    end loop;
    return 'false'::jsonb;
  elsif op = 'not' then
    return to_jsonb(accord_eval(args, input) is distinct from 'true'::jsonb);
  end if;
  a := accord_eval(args -> 0, input);
  b := accord_eval(args -> 1, input);
  if op = 'eq' then
    return to_jsonb(a = b);
  end if;
  if jsonb_typeof(a) <> 'number' or jsonb_typeof(b) <> 'number' then
    return case when op in ('add', 'sub', 'mul') then 'null'::jsonb else 'false'::jsonb end;
  end if;
  case op
    when 'gt'  then return to_jsonb((a #>> '{}')::numeric >  (b #>> '{}')::numeric);
    when 'gte' then return to_jsonb((a #>> '{}')::numeric >= (b #>> '{}')::numeric);
    when 'lt'  then return to_jsonb((a #>> '{}')::numeric <  (b #>> '{}')::numeric);
    when 'lte' then return to_jsonb((a #>> '{}')::numeric <= (b #>> '{}')::numeric);
    when 'add' then return to_jsonb((a #>> '{}')::numeric + (b #>> '{}')::numeric);
    when 'sub' then return to_jsonb((a #>> '{}')::numeric - (b #>> '{}')::numeric);
    when 'mul' then return to_jsonb((a #>> '{}')::numeric * (b #>> '{}')::numeric);
    else raise exception 'unknown contract operator "%"', op;
  end case;
end
$fn$;

-- accord_contract('available_item', 2, '{"on_hand": 5, "reserved": 2, "sellable": true}') → true
create or replace function accord_contract(p_name text, p_version integer, p_input jsonb) returns boolean
language plpgsql stable as $fn$
declare
  def jsonb;
begin
  select definition into def from contracts where name = p_name and version = p_version;
  if def is null then
    raise exception 'unknown contract %@%', p_name, p_version;
  end if;
  return accord_eval(def, p_input) = 'true'::jsonb;
end
$fn$;

insert into contracts (name, version, owner, description, definition, golden_cases) values
  ('available_item', 1, 'inventory-owner', 'Something is on hand.',
   '{"gt": [{"var": "on_hand"}, 0]}',
   '[{"input": {"on_hand": 3, "reserved": 3, "sellable": true}, "expected": true, "why": "v1 ignores reservations"},
     {"input": {"on_hand": 0, "reserved": 0, "sellable": true}, "expected": false, "why": "nothing on hand"}]'),
  ('available_item', 2, 'inventory-owner', 'On hand minus reserved is positive and the item is sellable.',
   '{"all": [{"gt": [{"sub": [{"var": "on_hand"}, {"var": "reserved"}]}, 0]}, {"eq": [{"var": "sellable"}, true]}]}',
   '[{"input": {"on_hand": 5, "reserved": 2, "sellable": true}, "expected": true, "why": "3 free"},
     {"input": {"on_hand": 3, "reserved": 3, "sellable": true}, "expected": false, "why": "all reserved"},
     {"input": {"on_hand": 9, "reserved": 0, "sellable": false}, "expected": false, "why": "not sellable"},
     {"input": {"on_hand": 1, "sellable": true}, "expected": false, "why": "unknown reservations are not zero"}]'),
  ('high_risk_customer', 1, 'risk-owner', 'Risk score of at least 0.8, or at least 3 chargebacks.',
   '{"any": [{"gte": [{"var": "risk_score"}, 0.8]}, {"gte": [{"var": "chargebacks"}, 3]}]}',
   '[{"input": {"risk_score": 0.85, "chargebacks": 0}, "expected": true, "why": "score"},
     {"input": {"risk_score": 0.1, "chargebacks": 3}, "expected": true, "why": "chargebacks"},
     {"input": {"risk_score": 0.79, "chargebacks": 2}, "expected": false, "why": "below both"},
     {"input": {}, "expected": false, "why": "no data is not high risk"}]')
on conflict (name, version) do nothing;

do $$
declare
  r text;
begin
  for r in select rolname from pg_roles where rolname like 'accord\_owner\_%' or rolname = 'accord_reader' loop
    execute format('grant select on contracts to %I', r);
    execute format('grant execute on function accord_contract(text, integer, jsonb), accord_eval(jsonb, jsonb) to %I', r);
  end loop;
end
$$;
