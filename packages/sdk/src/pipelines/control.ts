import type { PoolClient } from 'pg';
import type { SqlClient, SqlPool } from '../infra/sql';

/** Postgres channel on which `accord replay` and `accord checkpoints rebind` tell running instances to re-read their checkpoints. */
export const CONTROL_CHANNEL = 'accord_pipeline_control';

export interface ControlMessage {
  group: string;
  action: 'replay' | 'rebind';
  id?: number;
}

type Subscriber = (message: ControlMessage) => void;

interface Shared {
  client: Promise<PoolClient>;
  subscribers: Set<Subscriber>;
}

/**
 * One LISTEN connection per pool, shared by every pipeline on it: a process that runs many pipelines
 * (one per feature view version, say) must not hold one pooled connection each just to listen.
 */
const shared = new WeakMap<SqlPool, Shared>();

/** Calls `onMessage` for each control message until the returned function is called. */
export async function subscribeControl(pool: SqlPool, onMessage: Subscriber): Promise<() => Promise<void>> {
  let entry = shared.get(pool);
  if (!entry) {
    const subscribers = new Set<Subscriber>();
    const client = (async () => {
      // Pools are made by createPgPool (pg): its clients emit LISTEN notifications.
      const c = (await pool.connect()) as unknown as PoolClient;
      c.on('notification', (message) => {
        let payload: Partial<ControlMessage>;
        try {
          payload = JSON.parse(message.payload ?? '{}');
        } catch {
          return;
        }
        if (typeof payload.group !== 'string') return;
        if (payload.action !== 'replay' && payload.action !== 'rebind') return;
        for (const s of subscribers) s(payload as ControlMessage);
      });
      await c.query(`listen ${CONTROL_CHANNEL}`);
      return c;
    })();
    entry = { client, subscribers };
    shared.set(pool, entry);
    client.catch(() => shared.delete(pool));
  }
  const current = entry;
  current.subscribers.add(onMessage);
  await current.client;
  return async () => {
    current.subscribers.delete(onMessage);
    if (current.subscribers.size > 0 || shared.get(pool) !== current) return;
    shared.delete(pool);
    const c = await current.client;
    await c.query(`unlisten ${CONTROL_CHANNEL}`).catch(() => {});
    c.release();
  };
}

/** Tells the running instances of a group (inside the caller's transaction: sent when it commits). */
export async function notifyControl(client: SqlClient, message: ControlMessage): Promise<void> {
  await client.query('select pg_notify($1, $2)', [CONTROL_CHANNEL, JSON.stringify(message)]);
}
