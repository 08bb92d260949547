import type { PoolClient } from 'pg';
import type { SqlPool } from './sql';

type Subscriber = (payload: string) => void;
/** Called after the LISTEN connection was lost and made again: notifications in between may be lost. */
type GapHandler = () => void;

interface Shared {
  client: Promise<PoolClient>;
  subscribers: Map<Subscriber, GapHandler | undefined>;
  onNotification: (message: { channel: string; payload?: string }) => void;
  closed: boolean;
  /** Removes the watch on the current connection (before it goes back to the pool). */
  detach: () => void;
}

/**
 * One LISTEN connection per pool and channel, shared by every subscriber: a process that runs many
 * pipelines or agents must not hold one pooled connection each just to listen. Payloads arrive when the
 * notifying transaction commits.
 */
const shared = new WeakMap<SqlPool, Map<string, Shared>>();

const RECONNECT_MAX_MS = 5000;

/**
 * Calls `onPayload` for each notification on `channel` until the returned function is called. If the
 * connection is lost (Postgres restarted, a network cut), it is made again with backoff and `onGap` is
 * called, for the subscriber to re-read what a notification would have told it: a lost LISTEN must never
 * silently stop the notifications (nor, as an unhandled error on a checked-out client, end the process).
 */
export async function subscribeChannel(
  pool: SqlPool,
  channel: string,
  onPayload: Subscriber,
  onGap?: GapHandler,
): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid channel name "${channel}"`);
  let channels = shared.get(pool);
  if (!channels) {
    channels = new Map();
    shared.set(pool, channels);
  }
  let entry = channels.get(channel);
  if (!entry) {
    const subscribers = new Map<Subscriber, GapHandler | undefined>();
    const onNotification = (message: { channel: string; payload?: string }) => {
      if (message.channel !== channel) return;
      for (const s of subscribers.keys()) s(message.payload ?? '');
    };
    const made: Shared = {
      client: Promise.resolve(undefined as never),
      subscribers,
      onNotification,
      closed: false,
      detach: () => {},
    };
    made.client = listenOn(pool, channel, made);
    entry = made;
    channels.set(channel, entry);
    const forget = channels;
    const first = entry;
    first.client.catch(() => {
      if (forget.get(channel) === first) forget.delete(channel);
    });
  }
  const current = entry;
  const owner = channels;
  current.subscribers.set(onPayload, onGap);
  await current.client;
  return async () => {
    current.subscribers.delete(onPayload);
    if (current.subscribers.size > 0 || owner.get(channel) !== current) return;
    owner.delete(channel);
    current.closed = true;
    const c = await current.client.catch(() => undefined);
    if (!c) return;
    await c.query(`unlisten ${channel}`).catch(() => {});
    // The connection goes back to the pool: it must not keep our listeners (the next LISTEN adds its own).
    current.detach();
    c.release();
  };
}

/** Checks out a connection, LISTENs on it, and watches it: when it dies, makes another (see subscribeChannel). */
async function listenOn(pool: SqlPool, channel: string, entry: Shared): Promise<PoolClient> {
  // Pools are made by createPgPool (pg): its clients emit LISTEN notifications.
  const c = (await pool.connect()) as unknown as PoolClient;
  const early = () => {}; // a failure before LISTEN is on is the caller's: it throws below
  c.on('error', early);
  c.on('notification', entry.onNotification);
  try {
    await c.query(`listen ${channel}`); // validated by the caller: identifiers cannot be bound
  } catch (error) {
    c.removeListener('error', early);
    c.removeListener('notification', entry.onNotification);
    c.release(true);
    throw error;
  }
  c.removeListener('error', early);
  let lost = false;
  const onLost = () => {
    if (lost) return;
    lost = true;
    entry.detach();
    c.on('error', () => {}); // it may still report the failure: nobody needs it
    c.release(true); // destroyed, not reused
    if (!entry.closed) void reconnect(pool, channel, entry);
  };
  c.on('error', onLost);
  c.on('end', onLost);
  entry.detach = () => {
    c.removeListener('error', onLost);
    c.removeListener('end', onLost);
    c.removeListener('notification', entry.onNotification);
  };
  return c;
}

async function reconnect(pool: SqlPool, channel: string, entry: Shared): Promise<void> {
  for (let attempt = 0; !entry.closed; attempt++) {
    await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, RECONNECT_MAX_MS)));
    if (entry.closed) return;
    const next = listenOn(pool, channel, entry);
    try {
      await next;
    } catch {
      continue; // Postgres still down: try again
    }
    if (entry.closed) {
      entry.detach();
      (await next).release();
      return;
    }
    entry.client = next;
    for (const onGap of entry.subscribers.values()) onGap?.();
    return;
  }
}
