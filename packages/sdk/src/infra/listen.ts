import type { PoolClient } from 'pg';
import type { SqlPool } from './sql';

type Subscriber = (payload: string) => void;

interface Shared {
  client: Promise<PoolClient>;
  subscribers: Set<Subscriber>;
  onNotification: (message: { channel: string; payload?: string }) => void;
}

/**
 * One LISTEN connection per pool and channel, shared by every subscriber: a process that runs many
 * pipelines or agents must not hold one pooled connection each just to listen. Payloads arrive when the
 * notifying transaction commits.
 */
const shared = new WeakMap<SqlPool, Map<string, Shared>>();

/** Calls `onPayload` for each notification on `channel` until the returned function is called. */
export async function subscribeChannel(
  pool: SqlPool,
  channel: string,
  onPayload: Subscriber,
): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid channel name "${channel}"`);
  let channels = shared.get(pool);
  if (!channels) {
    channels = new Map();
    shared.set(pool, channels);
  }
  let entry = channels.get(channel);
  if (!entry) {
    const subscribers = new Set<Subscriber>();
    const onNotification = (message: { channel: string; payload?: string }) => {
      if (message.channel !== channel) return;
      for (const s of subscribers) s(message.payload ?? '');
    };
    const client = (async () => {
      // Pools are made by createPgPool (pg): its clients emit LISTEN notifications.
      const c = (await pool.connect()) as unknown as PoolClient;
      c.on('notification', onNotification);
      await c.query(`listen ${channel}`); // validated above: identifiers cannot be bound
      return c;
    })();
    entry = { client, subscribers, onNotification };
    channels.set(channel, entry);
    const forget = channels;
    client.catch(() => forget.delete(channel));
  }
  const current = entry;
  const owner = channels;
  current.subscribers.add(onPayload);
  await current.client;
  return async () => {
    current.subscribers.delete(onPayload);
    if (current.subscribers.size > 0 || owner.get(channel) !== current) return;
    owner.delete(channel);
    const c = await current.client;
    await c.query(`unlisten ${channel}`).catch(() => {});
    // The connection goes back to the pool: it must not keep our listener (the next LISTEN adds its own).
    c.removeListener('notification', current.onNotification);
    c.release();
  };
}
