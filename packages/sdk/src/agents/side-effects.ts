import type { SqlPool } from '../infra/sql';

/**
 * The side-effect journal (agent_side_effects): an external call's result, per (agent, event, name).
 * The first call is made and recorded; a redelivery or a replay of the same event gets the recorded
 * result without calling again, which makes replaying an LLM-driven agent safe and deterministic. A
 * replay that asks to recompute calls again and records the new result (the row counts the calls).
 */
export class SideEffectJournal {
  constructor(
    private readonly pool: SqlPool,
    private readonly agent: string,
  ) {}

  async run<T>(eventId: string, name: string, call: () => Promise<T> | T, recompute: boolean): Promise<T> {
    if (!recompute) {
      const { rows } = await this.pool.query<{ result: { value: T } }>(
        'select result from agent_side_effects where agent = $1 and event_id = $2 and name = $3',
        [this.agent, eventId, name],
      );
      if (rows[0]) return rows[0].result.value;
    }
    const value = await call();
    // Wrapped, so that any JSON value (a string, null) round-trips; undefined is recorded as null.
    await this.pool.query(
      `insert into agent_side_effects (agent, event_id, name, result) values ($1, $2, $3, $4)
       on conflict (agent, event_id, name)
       do update set result = excluded.result, calls = agent_side_effects.calls + 1, recorded_at = now()`,
      [this.agent, eventId, name, JSON.stringify({ value: value === undefined ? null : value })],
    );
    return value;
  }
}
