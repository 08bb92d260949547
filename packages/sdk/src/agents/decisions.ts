import { AccordError } from '../errors';
import { GroupCommit } from '../infra/group-commit';
import { subscribeChannel } from '../infra/listen';
import type { SqlPool } from '../infra/sql';
import type { OwnerDecision } from '../owners/propose';
import { table } from '../owners/types';

/** Postgres channel on which every committed decision is told (trigger accord_notify_decision, 0012). */
export const DECISIONS_CHANNEL = 'accord_decisions';

interface Waiting {
  /** Told: with the decision when the notification carried it whole (0025), else without (read it). */
  resolve: (decision?: OwnerDecision) => void;
}

/** The decision a notification carries whole, if it does. */
function wholeDecision(told: Record<string, unknown>): OwnerDecision | undefined {
  if (told.whole !== true || typeof told.decisionId !== 'string') return undefined;
  const n = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    proposalId: String(told.proposalId),
    decisionId: told.decisionId,
    outcome: told.outcome as OwnerDecision['outcome'],
    reason: typeof told.reason === 'string' ? told.reason : null,
    versionBefore: n(told.versionBefore) ?? 0,
    versionAfter: n(told.versionAfter),
    conflictingVersion: n(told.conflictingVersion),
  };
}

/**
 * Decisions pushed to the agents waiting for them: one LISTEN connection per pool, a map of proposals
 * being waited for. A wait reads the audit once after subscribing (the decision may have committed
 * before), then only when told; never polled.
 */
export class DecisionWaiter {
  private readonly waiting = new Map<string, Set<Waiting>>();
  private unsubscribe: Promise<() => Promise<void>> | undefined;
  private readonly reads = new Map<string, GroupCommit<string, OwnerDecision | undefined>>();

  constructor(private readonly pool: SqlPool) {}

  private listen(): Promise<() => Promise<void>> {
    this.unsubscribe ??= subscribeChannel(
      this.pool,
      DECISIONS_CHANNEL,
      (raw) => {
        let told: Record<string, unknown>;
        try {
          told = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          return;
        }
        if (typeof told.proposalId !== 'string') return;
        const waiting = this.waiting.get(`${String(told.entityType)}/${told.proposalId}`);
        if (!waiting) return;
        const decision = wholeDecision(told);
        for (const w of waiting) w.resolve(decision);
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
    let told: (decision?: OwnerDecision) => void = () => {};
    const w: Waiting = { resolve: (decision) => told(decision) };
    const key = `${entityType}/${proposalId}`;
    const set = this.waiting.get(key) ?? new Set<Waiting>();
    set.add(w);
    this.waiting.set(key, set);
    try {
      const deadline = Date.now() + timeoutMs;
      // Read once (it may have committed before we listened); then wait to be told, reading again only
      // when the notification did not carry the decision whole (or the channel was lost and is back).
      for (let whole: OwnerDecision | undefined; ; ) {
        const notified = new Promise<OwnerDecision | undefined>((resolve) => {
          told = resolve;
        });
        const found = whole ?? (await this.read(entityType, proposalId));
        if (found) return found;
        const left = deadline - Date.now();
        let timer: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          notified.then((decision) => ({ timedOut: false, decision })),
          new Promise<{ timedOut: true; decision: undefined }>((resolve) => {
            timer = setTimeout(() => resolve({ timedOut: true, decision: undefined }), Math.max(0, left));
          }),
        ]);
        clearTimeout(timer);
        whole = outcome.decision;
        if (outcome.timedOut) {
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
      if (set.size === 0) this.waiting.delete(key);
    }
  }

  /** Proposals being waited for, each registered after the channel was listened to (tests, metrics). */
  async waitingFor(): Promise<number> {
    await this.unsubscribe;
    return this.waiting.size;
  }

  /**
   * The proposal's decision from the audit, if committed. Reads of one entity type made while one is out
   * go together in the next (one statement for a fetch's worth of waits): a statement per wait was 43% of
   * the statements Postgres ran at 1,000 loops/s (bench/decision-roundtrip --agent).
   */
  private read(entityType: string, proposalId: string): Promise<OwnerDecision | undefined> {
    let reads = this.reads.get(entityType);
    if (!reads) {
      reads = new GroupCommit(async (ids) => {
        const { rows } = await this.pool.query<OwnerDecision>(
          `select proposal_id as "proposalId", decision_id as "decisionId", outcome, reason, version_before::int as "versionBefore",
                  version_after::int as "versionAfter", conflicting_version::int as "conflictingVersion"
             from ${table(entityType, 'decisions')} where proposal_id = any($1::text[])`,
          [[...new Set(ids)]],
        );
        const byId = new Map(rows.map((r) => [r.proposalId, r]));
        return ids.map((id) => byId.get(id));
      });
      this.reads.set(entityType, reads);
    }
    return reads.submit(proposalId);
  }

  async close(): Promise<void> {
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    if (unsubscribe) await (await unsubscribe)().catch(() => {});
  }
}
