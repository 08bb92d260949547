import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { existsSync } from 'node:fs';
import { readSecret, readSecretFile, writeSecret } from '../config/secrets';
import { ConfigError } from '../errors';
import type { SqlClient, SqlPool } from '../infra/sql';

/**
 * Who proposed. The `agent` field of a proposal is what the agent says; the owner gives an agent's rank
 * (priority) and the audit by it, so it must be proven: each deployed agent holds an Ed25519 key (its
 * private half in a 0600 file, or ACCORD_SIGNING_KEY_FILE), the operator registers the public half in
 * agent_keys (which no service role can write), and every proposal carries a signature over its
 * identifying fields in the header accord-proposer-signature. The owner checks it before judging: a
 * forged or missing signature of a registered agent is rejected, and that rejection is audited like any
 * decision. Kafka ACLs decide who may write proposals at all; this decides whose name they carry.
 */
export const SIGNATURE_HEADER = 'accord-proposer-signature';

export interface SignedFields {
  entityType: string;
  entityId: string;
  proposalId: string;
  agent: string;
  action: string;
  changeJson: string;
  expectedVersion: number | null;
  idempotencyKey: string;
}

/** The bytes signed: every field that decides what the proposal does, unambiguously joined. */
export function signingPayload(p: SignedFields): Buffer {
  return Buffer.from(
    JSON.stringify([
      'accord-proposal-v1',
      p.entityType,
      p.entityId,
      p.proposalId,
      p.agent,
      p.action,
      p.changeJson,
      p.expectedVersion,
      p.idempotencyKey,
    ]),
  );
}

export function signProposal(key: KeyObject, fields: SignedFields): string {
  return sign(null, signingPayload(fields), key).toString('base64');
}

export const agentKeyName = (agent: string) => `accord_agent_${agent}`;

/**
 * The agent's private key: ACCORD_SIGNING_KEY_FILE, else the local stack's secret (accord deploy made it).
 * Undefined when neither exists (proposals then go unsigned, which owners that require signatures refuse).
 */
export function loadSigningKey(
  agent: string,
  env: Record<string, string | undefined> = process.env,
): KeyObject | undefined {
  const file = env.ACCORD_SIGNING_KEY_FILE;
  let pem: string | undefined;
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`ACCORD_SIGNING_KEY_FILE ${file} does not exist`);
    pem = readSecretFile(file, 'ACCORD_SIGNING_KEY_FILE');
  } else pem = readSecret('signing', agentKeyName(agent), env);
  if (pem === undefined) return undefined;
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError(`the signing key of agent ${agent} is not a PEM private key`, { cause: error });
  }
}

/**
 * Gives `agent` a signing key (the local secret, made once) and registers its public half. Run by the
 * operator (accord deploy): agent_keys is writable by the migration owner only. `rotate` makes a new pair.
 */
export async function registerAgentKey(
  pool: SqlPool,
  agent: string,
  options: { rotate?: boolean; env?: Record<string, string | undefined> } = {},
): Promise<{ created: boolean }> {
  const env = options.env ?? process.env;
  let pem = options.rotate ? undefined : readSecret('signing', agentKeyName(agent), env);
  const created = pem === undefined;
  if (pem === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    writeSecret('signing', agentKeyName(agent), pem, env);
  }
  const publicPem = createPublicKey(createPrivateKey(pem)).export({ format: 'pem', type: 'spki' }).toString();
  await pool.query(
    `insert into agent_keys (agent, public_key) values ($1, $2)
     on conflict (agent) do update set public_key = excluded.public_key, registered_at = now()
       where agent_keys.public_key <> excluded.public_key`,
    [agent, publicPem],
  );
  return { created };
}

export type ProposerCheck =
  | { status: 'verified' }
  /** No key registered for that name, and no signature either. */
  | { status: 'unregistered' }
  | { status: 'forged'; detail: string };

/**
 * The owner's side: public keys read from agent_keys (through the owner's transaction: no second
 * connection), kept for `ttlMs` (a rotation takes effect then).
 */
export class ProposerKeys {
  private readonly cache = new Map<string, { key: KeyObject | null; at: number }>();

  constructor(private readonly ttlMs = 10_000) {}

  async check(db: SqlClient, fields: SignedFields, signature: string | undefined): Promise<ProposerCheck> {
    const key = await this.key(db, fields.agent);
    if (key === null) {
      return signature === undefined
        ? { status: 'unregistered' }
        : { status: 'forged', detail: `signed as ${fields.agent}, which has no registered key` };
    }
    if (signature === undefined) return { status: 'forged', detail: `no signature from ${fields.agent}` };
    const ok = verify(null, signingPayload(fields), key, Buffer.from(signature, 'base64'));
    return ok
      ? { status: 'verified' }
      : { status: 'forged', detail: `the signature is not ${fields.agent}'s` };
  }

  private async key(db: SqlClient, agent: string): Promise<KeyObject | null> {
    const hit = this.cache.get(agent);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.key;
    const { rows } = await db.query<{ public_key: string }>(
      'select public_key from agent_keys where agent = $1',
      [agent],
    );
    const pem = rows[0]?.public_key;
    const key = pem ? createPublicKey(pem) : null;
    this.cache.set(agent, { key, at: Date.now() });
    return key;
  }
}
