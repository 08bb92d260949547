import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors';

/**
 * Secrets of the local stack: one file per secret under <state dir>/secrets/<kind>/<name>, mode 0600 in a
 * 0700 directory. `accord up` and `accord deploy` create them; services read their own. In production the
 * same values come from the environment (KAFKA_SASL_PASSWORD, *_DATABASE_URL) and these files are absent.
 */
export type SecretKind = 'kafka' | 'postgres' | 'signing';

type Env = Record<string, string | undefined>;

/** <ACCORD_SECRETS_DIR>, else <ACCORD_STATE_DIR>/secrets, else <ACCORD_ROOT or cwd>/.accord/secrets. */
export function secretsDir(env: Env = process.env): string {
  if (env.ACCORD_SECRETS_DIR) return resolve(env.ACCORD_SECRETS_DIR);
  const state = env.ACCORD_STATE_DIR || join(env.ACCORD_ROOT || process.cwd(), '.accord');
  return resolve(state, 'secrets');
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/;

function secretPath(dir: string, kind: SecretKind, name: string): string {
  if (!NAME.test(name))
    throw new ConfigError(`secret name "${name}" must be letters, digits, '.', '_' or '-'`);
  return join(dir, kind, name);
}

/** Reads a secret file, refusing one that others may read (a leaked password is a rotated password). */
export function readSecretFile(file: string, what: string): string {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new ConfigError(
      `${what} ${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it (and rotate the secret if it leaked)`,
    );
  }
  const value = readFileSync(file, 'utf8').trim();
  if (value === '') throw new ConfigError(`${what} ${file} is empty`);
  return value;
}

export function readSecret(kind: SecretKind, name: string, env: Env = process.env): string | undefined {
  const file = secretPath(secretsDir(env), kind, name);
  if (!existsSync(file)) return undefined;
  return readSecretFile(file, `the ${kind} secret`);
}

/** The secret, created (random, 32 bytes of base64url: safe in URLs, JAAS and properties files) when missing. */
export function ensureSecret(
  kind: SecretKind,
  name: string,
  env: Env = process.env,
  generate: () => string = () => randomBytes(32).toString('base64url'),
): { value: string; created: boolean } {
  const existing = readSecret(kind, name, env);
  if (existing !== undefined) return { value: existing, created: false };
  return { value: writeSecret(kind, name, generate(), env), created: true };
}

export function writeSecret(kind: SecretKind, name: string, value: string, env: Env = process.env): string {
  const dir = secretsDir(env);
  mkdirSync(join(dir, kind), { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  chmodSync(join(dir, kind), 0o700);
  const file = secretPath(dir, kind, name);
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its mode on write
  return value;
}
