-- Proposer identity (docs/security.md): the public half of each deployed agent's Ed25519 signing key.
-- The operator registers it (accord deploy, as the migration owner); owners check every proposal's
-- signature against it; no service or agent role can write it, so no agent can claim another's name.
create table if not exists agent_keys (
  agent         text        primary key,
  public_key    text        not null,
  registered_at timestamptz not null default now()
);
grant select on agent_keys to accord_reader, accord_owner;
