import { randomBytes } from 'node:crypto';
import {
  createKafka,
  createPgPool,
  readSecret,
  registerAgentKey,
  secretsDir,
  UsageError,
  writeSecret,
} from '@accord/sdk';
import { listAcls, setRolePasswords, upsertScramUsers } from '@accord/sdk/ops';
import type { Command } from '../command';
import { toJson } from '../json';
import { loadStack } from '../stack';
import { stackEnv } from '../stack/paths';

const NAME = /^accord[-_][a-z0-9_-]{1,60}$/;

export const principalsCommand: Command = {
  name: 'principals',
  summary: 'who may do what on Kafka (principals and their ACLs); rotate a credential',
  usage: 'accord principals [--json]  |  accord principals rotate <name>',
  help: `Lists every Kafka principal with an ACL and what it may do: topics it reads or writes, groups it
consumes with. A service logs in to Kafka and Postgres under one name (its Postgres role: accord_archive,
accord_owner_order, accord_agent_risk, …); accord up grants the platform services and the owners theirs,
accord deploy each agent's. Passwords are never printed: they live in <state dir>/secrets (0600).

rotate <name> gives that principal new credentials: a new Kafka password (SCRAM), a new Postgres password
when it is a login role, and a new signing key when it is an agent (registered for owners at once).
Restart the service or redeploy the agent afterwards: running processes keep their old connections, and
new ones fail with the old password.

Options:
  --json   print the rows as JSON`,
  options: { json: { type: 'boolean' } },
  async run({ positionals, values, out }) {
    const { config, paths } = loadStack();
    const env = stackEnv(paths);
    if (positionals[0] === 'rotate') {
      const name = positionals[1];
      if (!name || !NAME.test(name))
        throw new UsageError('rotate needs a principal name, e.g. accord_owner_order or accord_agent_risk');
      if (readSecret('kafka', name, env) === undefined)
        throw new UsageError(`${name} has no credentials in ${secretsDir(env)}: nothing to rotate`);
      const password = writeSecret('kafka', name, randomBytes(32).toString('base64url'), env);
      await upsertScramUsers(config, [{ name, password }]);
      out(`${name}: new Kafka password`);
      if (readSecret('postgres', name, env) !== undefined) {
        writeSecret('postgres', name, randomBytes(32).toString('base64url'), env);
        const pool = createPgPool(config.postgres.url, { max: 1 });
        try {
          await setRolePasswords(pool, [name], env);
          const agent = /^accord_agent_([a-z][a-z0-9_]*)$/.exec(name)?.[1];
          if (agent) {
            await registerAgentKey(pool, agent, { rotate: true, env });
            out(`${name}: new signing key, registered`);
          }
        } finally {
          await pool.end();
        }
        out(`${name}: new Postgres password`);
      }
      out(`restart ${name}'s processes (accord deploy <manifest> for an agent) to log in with them`);
      return 0;
    }
    if (positionals.length)
      throw new UsageError(`unexpected "${positionals[0]}" (see accord principals --help)`);
    const rows = await listAcls(createKafka(config));
    if (values.json) {
      out(toJson(rows, 2));
      return 0;
    }
    const byPrincipal = new Map<string, string[]>();
    for (const r of rows.sort((a, b) => a.principal.localeCompare(b.principal))) {
      const what = `${r.operation} ${r.resource} ${r.name}${r.pattern === 'prefixed' ? '*' : ''}`;
      byPrincipal.set(r.principal, [...(byPrincipal.get(r.principal) ?? []), what]);
    }
    if (byPrincipal.size === 0) out('no ACLs: Kafka does not authorize here, or nobody was granted anything');
    for (const [principal, grants] of byPrincipal) out(`${principal}\n  ${grants.join('\n  ')}`);
    out(
      `(super users, who need no ACL: accord-admin, the operator; accord-broker and accord-controller, the cluster)`,
    );
    return 0;
  },
};
