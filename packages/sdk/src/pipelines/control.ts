import { subscribeChannel } from '../infra/listen';
import type { SqlClient, SqlPool } from '../infra/sql';

/** Postgres channel on which `accord replay` and `accord checkpoints rebind` tell running instances to re-read their checkpoints. */
export const CONTROL_CHANNEL = 'accord_pipeline_control';

export interface ControlMessage {
  group: string;
  action: 'replay' | 'rebind';
  id?: number;
}

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
      if (payload.action !== 'replay' && payload.action !== 'rebind') return;
      onMessage(payload as ControlMessage);
    },
    onGap,
  );
}

/** Tells the running instances of a group (inside the caller's transaction: sent when it commits). */
export async function notifyControl(client: SqlClient, message: ControlMessage): Promise<void> {
  await client.query('select pg_notify($1, $2)', [CONTROL_CHANNEL, JSON.stringify(message)]);
}
