import { subscribeChannel } from '../infra/listen';
import type { SqlPool } from '../infra/sql';

/** Postgres channel on which pausing or resuming an agent is told (trigger on agent_controls, 0013). */
export const AGENT_CONTROLS_CHANNEL = 'accord_agent_controls';

export interface AgentControl {
  agent: string;
  paused: boolean;
  reason: string | null;
  changedBy: string;
  changedAt: Date;
}

/** The kill switch's state of one agent (not paused when never set). */
export async function agentControl(pool: SqlPool, agent: string): Promise<AgentControl | undefined> {
  const { rows } = await pool.query<AgentControl>(
    `select agent, paused, reason, changed_by as "changedBy", changed_at as "changedAt" from agent_controls where agent = $1`,
    [agent],
  );
  return rows[0];
}

/** Pauses or resumes an agent fleet-wide: every replica is told at once (NOTIFY at commit). */
export async function setAgentPaused(
  pool: SqlPool,
  agent: string,
  paused: boolean,
  by: string,
  reason?: string,
): Promise<AgentControl> {
  const { rows } = await pool.query<AgentControl>(
    `insert into agent_controls (agent, paused, reason, changed_by) values ($1, $2, $3, $4)
     on conflict (agent) do update set paused = excluded.paused, reason = excluded.reason,
       changed_by = excluded.changed_by, changed_at = now()
     returning agent, paused, reason, changed_by as "changedBy", changed_at as "changedAt"`,
    [agent, paused, reason ?? null, by],
  );
  return rows[0]!;
}

/** Calls `onChange` with the agent's paused flag now, and each time an operator changes it. */
export async function watchAgentControl(
  pool: SqlPool,
  agent: string,
  onChange: (paused: boolean) => void,
): Promise<() => Promise<void>> {
  const reread = () =>
    agentControl(pool, agent).then(
      (control) => onChange(control?.paused === true),
      () => {}, // Postgres still unsteady: the next change or gap tells again
    );
  const unsubscribe = await subscribeChannel(
    pool,
    AGENT_CONTROLS_CHANNEL,
    (raw) => {
      try {
        const told = JSON.parse(raw) as { agent?: unknown; paused?: unknown };
        if (told.agent === agent && typeof told.paused === 'boolean') onChange(told.paused);
      } catch {
        // not ours
      }
    },
    () => void reread(), // the channel was lost and is back: a pause told meanwhile was missed
  );
  // Read after subscribing: a change made in between is not missed.
  onChange((await agentControl(pool, agent))?.paused === true);
  return unsubscribe;
}
