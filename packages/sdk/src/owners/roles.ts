import { AccordError } from '../errors';
import { namespacedGroup } from '../events/topics';
import { SQLSTATE, sqlState } from '../infra/pg-errors';
import type { SqlPool } from '../infra/sql';

/**
 * An agent's login role, a member of accord_agent: read-only on entities, audit, archive, features and
 * contracts; it advances only the checkpoints of `groups` (row-level security), journals only its own
 * side effects. Agents change entities only by proposing. Idempotent (groups are added, never removed).
 */
export async function addAgentRole(
  pool: SqlPool,
  agent: string,
  groups: string[] = [namespacedGroup(`agent-${agent}`)],
): Promise<{ role: string; created: boolean }> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(agent)) {
    throw new AccordError(
      'USAGE',
      `agent name "${agent}" must be lower-case letters, digits and _ (at most 41 characters)`,
    );
  }
  const role = `accord_agent_${agent}`;
  let created = false;
  const exists = await pool.query('select 1 from pg_roles where rolname = $1', [role]);
  if (!exists.rowCount) {
    try {
      // Identifiers cannot be bound; the name was validated above.
      await pool.query(
        `create role "${role}" login inherit nosuperuser nocreatedb nocreaterole nobypassrls in role accord_agent`,
      );
      created = true;
    } catch (error) {
      if (sqlState(error) !== SQLSTATE.duplicateObject) throw error;
    }
  }
  // A role made before agents had their group role (0012) joins it; granting twice is harmless.
  await pool.query(`grant accord_agent to "${role}"`);
  await grantCheckpointGroups(pool, role, groups);
  return { role, created };
}

/**
 * Lets an agent or owner role advance the checkpoints of these consumer groups (and no others: row-level
 * security on pipeline_checkpoints). Owners get owner-<entity> when they are created; a group of another
 * name (a second owner deployment, a test) is granted here. Idempotent.
 */
export async function grantCheckpointGroups(pool: SqlPool, role: string, groups: string[]): Promise<void> {
  for (const group of groups)
    await pool.query(
      'insert into checkpoint_grants (role_name, consumer_group) values ($1, $2) on conflict do nothing',
      [role, group],
    );
}
