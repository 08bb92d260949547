import { subscribeChannel } from '../infra/listen';
import type { SqlClient, SqlPool } from '../infra/sql';
import type { Logger } from '../telemetry/log';

/** Postgres channel on which `accord replay` and `accord checkpoints rebind` tell running instances to re-read their checkpoints. */
export const CONTROL_CHANNEL = 'accord_pipeline_control';

export interface ControlMessage {
  group: string;
  /**
   * replay, rebind: the checkpoints moved; re-read them. flush: write the positions still pending
   * (deferred checkpoints) now, and answer flushed with the same id: a replay is planned from them.
   */
  action: 'replay' | 'rebind' | 'flush' | 'flushed';
  id?: number;
}

const ACTIONS = new Set<string>(['replay', 'rebind', 'flush', 'flushed']);

/**
 * Calls `onMessage` for each control message until the returned function is called; `onGap` after the
 * listening connection was lost and made again (a message may have been missed: re-read the checkpoints).
 */
export function subscribeControl(
  pool: SqlPool,
  onMessage: (message: ControlMessage) => void,
  onGap?: () => void,
): Promise<() => Promise<void>> {
  return subscribeChannel(
    pool,
    CONTROL_CHANNEL,
    (raw) => {
      let payload: Partial<ControlMessage>;
      try {
        payload = JSON.parse(raw || '{}');
      } catch {
        return;
      }
      if (typeof payload.group !== 'string') return;
      if (typeof payload.action !== 'string' || !ACTIONS.has(payload.action)) return;
      onMessage(payload as ControlMessage);
    },
    onGap,
  );
}

/**
 * A running instance of `group` on the control channel: `moved` when a replay or rebind moved its
 * checkpoints (or the channel was lost and is back: a message may have been missed); `flush` when a replay
 * is being planned, then `flushed` is answered with the request's id. Failures are logged, never thrown.
 */
export function listenAsGroup(
  pool: SqlPool,
  group: string,
  log: Logger,
  on: { flush: () => Promise<void>; moved: () => Promise<void> },
): Promise<() => Promise<void>> {
  const reread = (why: string) =>
    on.moved().catch((error: unknown) => log.error({ error }, `re-reading checkpoints after ${why} failed`));
  const answerFlush = async (id: number | undefined) => {
    try {
      await on.flush();
      await notifyControl(pool, { group, action: 'flushed', ...(id === undefined ? {} : { id }) });
    } catch (error) {
      log.error({ error }, 'writing the pending checkpoints for a replay being planned failed');
    }
  };
  return subscribeControl(
    pool,
    (message) => {
      if (message.group !== group || message.action === 'flushed') return;
      if (message.action === 'flush') void answerFlush(message.id);
      else void reread('a control message');
    },
    () => {
      // Postgres was gone for a while: a replay or rebind told meanwhile would be missed otherwise.
      log.warn({}, 'the control channel was lost and is back: re-reading the checkpoints');
      void reread('the control channel came back');
    },
  );
}

/** Tells the running instances of a group (inside the caller's transaction: sent when it commits). */
export async function notifyControl(client: SqlClient | SqlPool, message: ControlMessage): Promise<void> {
  await client.query('select pg_notify($1, $2)', [CONTROL_CHANNEL, JSON.stringify(message)]);
}

/**
 * Asks the running instances of a group to write the positions they hold in memory (deferred checkpoints,
 * option checkpointEveryMs) and waits for `members` answers, at most `timeoutMs`. Resolves with how many
 * answered: an instance of an older version never does, and its pending positions (at most its interval)
 * stay unwritten; the replay then re-processes them live, not as replays (at least once).
 */
export async function requestFlush(
  pool: SqlPool,
  group: string,
  members: number,
  timeoutMs = 3000,
): Promise<number> {
  if (members <= 0) return 0;
  const id = Math.floor(Math.random() * 2 ** 31);
  let answered = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const unsubscribe = await subscribeControl(pool, (message) => {
    if (message.group === group && message.action === 'flushed' && message.id === id && ++answered >= members)
      done();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await notifyControl(pool, { group, action: 'flush', id });
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    return answered;
  } finally {
    clearTimeout(timer);
    await unsubscribe();
  }
}
