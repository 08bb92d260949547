-- A migration role owns every table, view and function; service roles own nothing (they get grants).
-- migrate() hands new objects over after each run by calling accord_hand_over_ownership().
do $$
begin
  if not exists (select from pg_roles where rolname = 'accord_migrator') then
    create role accord_migrator nologin nosuperuser nocreatedb nocreaterole nobypassrls;
  end if;
end
$$;

create or replace function accord_hand_over_ownership() returns integer
language plpgsql as $fn$
declare
  r record;
  n integer := 0;
begin
  -- The owner needs the schema too: foreign-key checks run with the table owner's rights.
  execute format('grant usage, create on schema %I to accord_migrator', current_schema());
  -- Tables (partitions too) and views; a table's serial sequences follow it.
  for r in
    select c.relname, c.relkind
      from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
     where ns.nspname = current_schema() and c.relkind in ('r', 'p', 'v')
       and pg_get_userbyid(c.relowner) <> 'accord_migrator'
  loop
    execute format('alter %s %I owner to accord_migrator', case r.relkind when 'v' then 'view' else 'table' end, r.relname);
    n := n + 1;
  end loop;
  for r in
    select p.oid::regprocedure as sig
      from pg_proc p join pg_namespace ns on ns.oid = p.pronamespace
     where ns.nspname = current_schema() and pg_get_userbyid(p.proowner) <> 'accord_migrator'
  loop
    execute format('alter function %s owner to accord_migrator', r.sig);
    n := n + 1;
  end loop;
  return n;
end
$fn$;

select accord_hand_over_ownership();
