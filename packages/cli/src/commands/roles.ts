import { addAgentRole, createPgPool, grantCheckpointGroups, namespacedGroup, UsageError } from '@accord/sdk';
import type { Command } from '../command';
import { loadStack } from '../stack';

export const rolesCommand: Command = {
  name: 'roles',
  summary: "create an agent's read-only Postgres login role",
  usage: 'accord roles add-agent <name> [--group <g>]...  |  accord roles grant-group <role> <group>',
  help: `Creates the login role accord_agent_<name>, a member of accord_agent: it reads entities, the audit,
the archive, features and contracts; it advances only the checkpoints of its own consumer groups (row-level
security), journals only its own side effects, and writes nothing else (agents change entities by
proposing). Idempotent: groups are added, never removed. Give it a password with ALTER ROLE where Postgres
does not trust local connections.

grant-group lets an agent or owner role advance one more consumer group's checkpoints (an owner gets
owner-<entity> when it is created; a second deployment under another group name needs this).

Options:
  --group <g>   a consumer group the agent may advance (repeatable; default agent-<name>)`,
  options: { group: { type: 'string', multiple: true } },
  async run({ positionals, values, out }) {
    const [sub, name, group] = positionals;
    if (sub === 'grant-group') {
      if (!name || !/^accord_(agent|owner)_[a-z][a-z0-9_]{0,40}$/.test(name))
        throw new UsageError(
          'grant-group needs an agent or owner role (accord_agent_<name>, accord_owner_<entity>)',
        );
      if (!group) throw new UsageError('missing <group>');
      const { config } = loadStack();
      const pool = createPgPool(config.postgres.url, { max: 1 });
      try {
        await grantCheckpointGroups(pool, name, [group]);
      } finally {
        await pool.end();
      }
      out(`${name} may advance the checkpoints of ${group}`);
      return 0;
    }
    if (sub !== 'add-agent')
      throw new UsageError(`expected add-agent or grant-group, got ${sub ? `"${sub}"` : 'nothing'}`);
    if (!name) throw new UsageError('missing <name>');
    const { config } = loadStack();
    const pool = createPgPool(config.postgres.url, { max: 1 });
    try {
      const groups =
        Array.isArray(values.group) && values.group.length
          ? values.group.map(String)
          : [namespacedGroup(`agent-${name}`)];
      const { role, created } = await addAgentRole(pool, name, groups);
      out(
        `${created ? 'created' : 'already there:'} role ${role} (reads everything, writes only its checkpoints of ${groups.join(', ')})`,
      );
    } finally {
      await pool.end();
    }
    return 0;
  },
};
