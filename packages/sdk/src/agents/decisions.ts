import { AccordError } from '../errors';
import { subscribeChannel } from '../infra/listen';
import type { SqlPool } from '../infra/sql';
import type { OwnerDecision } from '../owners/propose';
import { table } from '../owners/types';

/** Postgres channel on which every committed decision is told (trigger accord_notify_decision, 0012). */
export const DECISIONS_CHANNEL = 'accord_decisions';

interface Waiting {
  resolve: () => void;
}

/**
 * Decisions pushed to the agents waiting for them: one LISTEN connection per pool, a map of proposals
 * being waited for. A wait reads the audit once after subscribing (the decision may have committed
 * before), then only when told; never polled.
 */
export class DecisionWaiter {
  private readonly waiting = new Map<string, Set<Waiting>>();
  private unsubscribe: Promise<() => Promise<void>> | undefined;

  constructor(private readonly pool: SqlPool) {}

  private listen(): Promise<() => Promise<void>> {
    this.unsubscribe ??= subscribeChannel(
      this.pool,
      DECISIONS_CHANNEL,
      (raw) => {
        let proposalId: unknown;
        try {
          proposalId = (JSON.parse(raw) as { proposalId?: unknown }).proposalId;
        } catch {
          return;
        }
        if (typeof proposalId !== 'string') return;
        for (const w of this.waiting.get(proposalId) ?? []) w.resolve();
      },
      // The channel was lost and is back: a decision told meanwhile was missed; every wait reads again.
      () => {
        for (const set of this.waiting.values()) for (const w of set) w.resolve();
      },
    );
    return this.unsubscribe;
  }

  /**
   * Resolves with the owner's decision once it committed. Past `timeoutMs` it fails with a retriable
   * DECISION_TIMEOUT: the proposal waits in Kafka until the owner runs again, and is decided once.
   */
  async decision(entityType: string, proposalId: string, timeoutMs = 30_000): Promise<OwnerDecision> {
    await this.listen();
    let told: () => void = () => {};
    const w: Waiting = { resolve: () => told() };
    const set = this.waiting.get(proposalId) ?? new Set<Waiting>();
    set.add(w);
    this.waiting.set(proposalId, set);
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const notified = new Promise<void>((resolve) => {
          told = resolve;
        });
        const found = await this.read(entityType, proposalId);
        if (found) return found;
        const left = deadline - Date.now();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          notified.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), Math.max(0, left));
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          const last = await this.read(entityType, proposalId);
          if (last) return last;
          throw new AccordError(
            'DECISION_TIMEOUT',
            `no decision on ${entityType} proposal ${proposalId} within ${timeoutMs} ms: the proposal waits in Kafka until the ${entityType} owner runs (is it?); try again later`,
            { retriable: true },
          );
        }
      }
    } finally {
      set.delete(w);
      if (set.size === 0) this.waiting.delete(proposalId);
    }
  }

  private async read(entityType: string, proposalId: string): Promise<OwnerDecision | undefined> {
    const { rows } = await this.pool.query<OwnerDecision>(
      `select proposal_id as "proposalId", decision_id as "decisionId", outcome, reason, version_before::int as "versionBefore",
              version_after::int as "versionAfter", conflicting_version::int as "conflictingVersion"
         from ${table(entityType, 'decisions')} where proposal_id = $1`,
      [proposalId],
    );
    return rows[0];
  }

  async close(): Promise<void> {
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    if (unsubscribe) await (await unsubscribe)().catch(() => {});
  }
}
