-- Least privilege for checkpoints, for owners as for agents: a role that is a member of accord_agent or
-- accord_owner advances only the checkpoints of the consumer groups granted to it here. The table agents
-- used since 0012 (agent_groups) becomes the one list for both.
do $$
begin
  if to_regclass('agent_groups') is not null and to_regclass('checkpoint_grants') is null then
    alter table agent_groups rename to checkpoint_grants;
    alter table checkpoint_grants rename column agent_role to role_name;
  end if;
  if not exists (select from pg_roles where rolname = 'accord_owner') then
    create role accord_owner nologin nosuperuser nocreatedb nocreaterole nobypassrls;
  end if;
end
$$;
create table if not exists checkpoint_grants (
  role_name      text not null,
  consumer_group text not null,
  primary key (role_name, consumer_group)
);
grant select on checkpoint_grants to accord_reader;

-- Every owner role joins accord_owner, with its default group owner-<entity>.
do $$
declare
  r record;
begin
  for r in select rolname from pg_roles where rolname like 'accord\_owner\_%' loop
    execute format('grant accord_owner to %I', r.rolname);
    insert into checkpoint_grants (role_name, consumer_group)
      values (r.rolname, 'owner-' || substr(r.rolname, length('accord_owner_') + 1)) on conflict do nothing;
  end loop;
end
$$;

drop policy if exists checkpoints_services on pipeline_checkpoints;
create policy checkpoints_services on pipeline_checkpoints for all
  using (not pg_has_role(current_user, 'accord_agent', 'member') and not pg_has_role(current_user, 'accord_owner', 'member'))
  with check (not pg_has_role(current_user, 'accord_agent', 'member') and not pg_has_role(current_user, 'accord_owner', 'member'));
drop policy if exists checkpoints_agents_own on pipeline_checkpoints;
create policy checkpoints_agents_own on pipeline_checkpoints for all to accord_agent
  using (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user))
  with check (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user));
drop policy if exists checkpoints_owners_read on pipeline_checkpoints;
create policy checkpoints_owners_read on pipeline_checkpoints for select to accord_owner using (true);
drop policy if exists checkpoints_owners_own on pipeline_checkpoints;
create policy checkpoints_owners_own on pipeline_checkpoints for all to accord_owner
  using (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user))
  with check (consumer_group in (select g.consumer_group from checkpoint_grants g where g.role_name = current_user));

-- Owners created from now on join accord_owner with their default group.
create or replace function accord_create_owner(p_entity_type text) returns void
language plpgsql as $fn$
declare
  e text := p_entity_type;
  r text := 'accord_owner_' || p_entity_type;
begin
  if e !~ '^[a-z][a-z0-9_]{0,40}$' then
    raise exception 'invalid entity type "%"', e;
  end if;
  execute format($q$
    create table if not exists %1$I (
      entity_id  text        primary key,
      version    bigint      not null default 0,
      state      jsonb       not null default '{}',
      updated_at timestamptz not null default now()
    )$q$, e || '_entities');
  execute format($q$
    create table if not exists %1$I (
      proposal_id      text        primary key,
      idempotency_key  text        not null unique,
      entity_id        text        not null,
      agent            text        not null,
      action           text        not null,
      change           jsonb       not null,
      expected_version bigint,
      reason           text,
      context          jsonb,
      proposed_at      timestamptz not null,
      received_at      timestamptz not null default now()
    )$q$, e || '_proposals');
  execute format($q$
    create table if not exists %1$I (
      decision_id         text        primary key,
      proposal_id         text        not null unique,
      entity_id           text        not null,
      agent               text        not null,
      action              text        not null,
      outcome             text        not null check (outcome in ('ACCEPTED', 'REJECTED', 'ESCALATED')),
      reason              text,
      version_before      bigint      not null,
      version_after       bigint,
      conflicting_version bigint,
      state_after         jsonb,
      contract_versions   text[]      not null default '{}',
      decided_at          timestamptz not null default now()
    )$q$, e || '_decisions');
  execute format('create index if not exists %I on %I (entity_id, decided_at)', e || '_decisions_entity_idx', e || '_decisions');
  execute format($q$
    create table if not exists %1$I (
      id           bigserial   primary key,
      decision_id  text        not null unique,
      entity_id    text        not null,
      payload      jsonb       not null,
      created_at   timestamptz not null default now(),
      published_at timestamptz
    )$q$, e || '_outbox');
  if not exists (select from pg_roles where rolname = r) then
    execute format('create role %I login inherit nosuperuser nocreatedb nocreaterole nobypassrls', r);
  end if;
  execute format('grant usage on schema %I to %I', current_schema(), r);
  -- Owners read everything agents can read (other entities, contracts, features), and write only their own.
  execute format('grant accord_reader to %I', r);
  execute format('grant select, insert, update on %I to %I', e || '_entities', r);
  execute format('grant select, insert on %I, %I to %I', e || '_proposals', e || '_decisions', r);
  execute format('grant select, insert, update on %I to %I', e || '_outbox', r);
  execute format('grant usage, select on sequence %I to %I', e || '_outbox_id_seq', r);
  execute format('grant select, insert, update on pipeline_checkpoints to %I', r);
  -- Everyone else reads.
  execute format('grant select on %I, %I, %I to accord_reader', e || '_entities', e || '_proposals', e || '_decisions');
  -- Decisions are pushed to the agents that wait for them (0012).
  perform accord_decision_trigger(e);
  -- Its escalations (0013).
  execute format('grant select, insert, update on escalations to %I', r);
  execute format('grant usage on sequence escalations_id_seq to %I', r);
  -- Its checkpoints only (0014): the group owner-<entity>; others by accord roles grant-group.
  execute format('grant accord_owner to %I', r);
  insert into checkpoint_grants (role_name, consumer_group) values (r, 'owner-' || e) on conflict do nothing;
end
$fn$;
