import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { ensureSecret } from '../config/secrets';
import { AccordError } from '../errors';
import type { SqlPool } from '../infra/sql';

/**
 * Every Accord login role gets a generated password (the local stack's secret postgres/<role>, 0600),
 * sent to Postgres as a SCRAM-SHA-256 verifier computed here: the password itself never reaches the
 * server, its statement log or pg_stat_statements. Services put it in their connection URL
 * (serviceDatabaseUrl) unless their *_DATABASE_URL is given; a Postgres that requires passwords
 * (scram-sha-256 in pg_hba.conf) then admits them and refuses anyone else.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const ROLE = /^accord_[a-z0-9_]{1,55}$/;

/**
 * Sets the password of each role (default: every login role named accord_*) from its local secret, made
 * once. Needs a login that may alter those roles (the superuser or a CREATEROLE operator). Idempotent.
 */
export async function setRolePasswords(
  pool: SqlPool,
  roles?: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<{ role: string; created: boolean }[]> {
  const names =
    roles ??
    (
      await pool.query<{ rolname: string }>(
        `select rolname from pg_roles where rolcanlogin and rolname like 'accord\\_%' order by rolname`,
      )
    ).rows.map((r) => r.rolname);
  const done: { role: string; created: boolean }[] = [];
  for (const role of names) {
    if (!ROLE.test(role))
      throw new AccordError('USAGE', `role "${role}" is not an Accord role name (accord_<lower-case name>)`);
    const { value, created } = ensureSecret('postgres', role, env);
    // ALTER ROLE takes no bind parameters: the name is checked above, the verifier is base64 and '$:'.
    await pool.query(`alter role "${role}" password '${scramVerifier(value)}'`);
    done.push({ role, created });
  }
  return done;
}
