import { addAgentRole, createPgPool, UsageError } from '@accord/sdk';
import type { Command } from '../command';
import { loadStack } from '../stack';

export const rolesCommand: Command = {
  name: 'roles',
  summary: "create an agent's read-only Postgres login role",
  usage: 'accord roles add-agent <name>',
  help: `Creates the login role accord_agent_<name>, which inherits accord_reader: it can read entities, the
audit, the archive, features and contracts, and write nothing (agents change entities by proposing).
Idempotent. Give it a password with ALTER ROLE where Postgres does not trust local connections.`,
  options: {},
  async run({ positionals, out }) {
    const [sub, name] = positionals;
    if (sub !== 'add-agent') throw new UsageError(`expected add-agent, got ${sub ? `"${sub}"` : 'nothing'}`);
    if (!name) throw new UsageError('missing <name>');
    const { config } = loadStack();
    const pool = createPgPool(config.postgres.url, { max: 1 });
    try {
      const { role, created } = await addAgentRole(pool, name);
      out(`${created ? 'created' : 'already there:'} role ${role} (read-only, inherits accord_reader)`);
    } finally {
      await pool.end();
    }
    return 0;
  },
};
