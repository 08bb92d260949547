import { AccordError } from '../errors';
import { SQLSTATE, sqlState } from '../infra/pg-errors';
import type { SqlPool } from '../infra/sql';

/**
 * An agent's login role: it inherits accord_reader (read-only on entities, audit, archive, features,
 * contracts) and can write nothing. Agents change entities only by proposing. Idempotent.
 */
export async function addAgentRole(
  pool: SqlPool,
  agent: string,
): Promise<{ role: string; created: boolean }> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(agent)) {
    throw new AccordError(
      'USAGE',
      `agent name "${agent}" must be lower-case letters, digits and _ (at most 41 characters)`,
    );
  }
  const role = `accord_agent_${agent}`;
  const exists = await pool.query('select 1 from pg_roles where rolname = $1', [role]);
  if (exists.rowCount) return { role, created: false };
  try {
    // Identifiers cannot be bound; the name was validated above.
    await pool.query(
      `create role "${role}" login inherit nosuperuser nocreatedb nocreaterole nobypassrls in role accord_reader`,
    );
  } catch (error) {
    if (sqlState(error) === SQLSTATE.duplicateObject) return { role, created: false };
    throw error;
  }
  return { role, created: true };
}
