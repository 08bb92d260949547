import type { SqlPool } from '@accord/sdk';

/**
 * The independent auditor: it reads the owners' decision audit, the entities and the event archive (never
 * what agents say about themselves) and counts contradictory customer-facing actions of one run:
 *   - a discount granted on an order that is out of stock (and not withdrawn);
 *   - an order both blocked and shipped;
 *   - a refund promised to a customer that billing did not pay and that was not withdrawn.
 * It also counts, per kind, the contradictions the traffic provoked and how the audit shows each handled:
 * a refused, escalated or compensated proposal.
 */
export type ContradictionKind = 'discount-on-out-of-stock' | 'blocked-and-shipped' | 'refund-promise-unpaid';

export interface Contradiction {
  kind: ContradictionKind;
  orderId: string;
  detail: string;
}

export interface Provoked {
  /** Situations the traffic created for this kind. */
  provoked: number;
  /** Of those, shown in the audit as a refused, escalated or compensated proposal. */
  handled: number;
  examples: string[];
}

export interface AuditResult {
  contradictions: Contradiction[];
  provoked: Record<ContradictionKind, Provoked>;
  events: { published: number; archived: number };
}

interface DecisionRow {
  entity_id: string;
  decision_id: string;
  action: string;
  outcome: string;
  reason: string | null;
  change: Record<string, unknown>;
  agent: string;
}

const num = (v: unknown) => (typeof v === 'number' ? v : Number(v) || 0);

export async function audit(pool: SqlPool, run: string, publishedEventIds: string[]): Promise<AuditResult> {
  const like = `${run}-%`;
  const { rows } = await pool.query<DecisionRow>(
    `select d.entity_id, d.decision_id, d.action, d.outcome, d.reason, p.change, d.agent
       from order_decisions d join order_proposals p using (proposal_id)
      where d.entity_id like $1
      -- In the order the entity saw them: by the version each was judged on (refusals at a version were
      -- judged on the same state as the acceptance that moved it on; decided_at is per transaction).
      order by d.entity_id, d.version_before, (d.outcome = 'ACCEPTED'), d.decided_at`,
    [like],
  );
  const payments = new Map(
    (
      await pool.query<{ entity_id: string; state: Record<string, unknown> }>(
        'select entity_id, state from payment_entities where entity_id like $1',
        [like],
      )
    ).rows.map((r) => [r.entity_id, r.state]),
  );
  const refundRefusals = new Set(
    (
      await pool.query<{ entity_id: string }>(
        `select entity_id from payment_decisions where entity_id like $1 and action = 'refund' and outcome = 'REJECTED'`,
        [like],
      )
    ).rows.map((r) => r.entity_id.replace(/-pay$/, '')),
  );
  const contradictions: Contradiction[] = [];
  const provoked: AuditResult['provoked'] = {
    'discount-on-out-of-stock': { provoked: 0, handled: 0, examples: [] },
    'blocked-and-shipped': { provoked: 0, handled: 0, examples: [] },
    'refund-promise-unpaid': { provoked: 0, handled: 0, examples: [] },
  };
  const note = (kind: ContradictionKind, orderId: string, handled: boolean) => {
    provoked[kind].provoked++;
    if (handled) provoked[kind].handled++;
    if (provoked[kind].examples.length < 3) provoked[kind].examples.push(orderId);
  };
  const byOrder = new Map<string, DecisionRow[]>();
  for (const r of rows) byOrder.set(r.entity_id, [...(byOrder.get(r.entity_id) ?? []), r]);

  for (const [orderId, decisions] of byOrder) {
    let status = 'new';
    let blocked = false;
    let discounted = false;
    let promised = 0;
    let withdrawn = 0;
    let discountTried = false;
    let stockOut = false;
    let stockOutHandled = true;
    let shipTried = false;
    let blockedOnce = false;
    let blockShipHandled = false;
    for (const d of decisions) {
      const accepted = d.outcome === 'ACCEPTED';
      switch (d.action) {
        case 'place':
          if (accepted) status = 'placed';
          break;
        case 'discount':
          discountTried = true;
          if (accepted && status === 'out_of_stock')
            contradictions.push({
              kind: 'discount-on-out-of-stock',
              orderId,
              detail: `discount ${d.decision_id} accepted while out of stock`,
            });
          if (accepted) discounted = true;
          break;
        case 'mark_out_of_stock':
          if (!accepted) break;
          stockOut = true;
          status = 'out_of_stock';
          if (discounted) {
            stockOutHandled = (d.reason ?? '').startsWith('compensates decision ');
            discounted = !stockOutHandled;
          }
          break;
        case 'ship':
          shipTried = true;
          if (accepted && blocked)
            contradictions.push({
              kind: 'blocked-and-shipped',
              orderId,
              detail: `shipped by ${d.decision_id} while blocked`,
            });
          if (accepted) status = 'shipped';
          else if (blocked) blockShipHandled = true;
          break;
        case 'block':
          blockedOnce = true;
          if (accepted && status === 'shipped')
            contradictions.push({
              kind: 'blocked-and-shipped',
              orderId,
              detail: `blocked by ${d.decision_id} after shipping`,
            });
          if (accepted) blocked = true;
          if (d.outcome === 'ESCALATED') blockShipHandled = true;
          break;
        case 'unblock':
          if (accepted) blocked = false;
          break;
        case 'promise_refund':
          if (accepted) promised += num(d.change.amountCents);
          break;
        case 'withdraw_refund_promise':
          if (accepted) withdrawn += num(d.change.amountCents);
          break;
      }
    }
    if (stockOut && discountTried) note('discount-on-out-of-stock', orderId, stockOutHandled && !discounted);
    if (stockOut && discounted)
      contradictions.push({
        kind: 'discount-on-out-of-stock',
        orderId,
        detail: 'out of stock with a discount still granted',
      });
    if (blockedOnce && (shipTried || status === 'shipped'))
      note('blocked-and-shipped', orderId, blockShipHandled);
    const refunded = num(payments.get(`${orderId}-pay`)?.refundedCents);
    if (promised - withdrawn > refunded)
      contradictions.push({
        kind: 'refund-promise-unpaid',
        orderId,
        detail: `promised ${promised}, withdrew ${withdrawn}, refunded ${refunded}`,
      });
    if (refundRefusals.has(orderId)) note('refund-promise-unpaid', orderId, withdrawn > 0);
  }
  const archived = await pool.query<{ n: number }>(
    'select count(distinct event_id)::int as n from event_archive where event_id = any($1::text[])',
    [publishedEventIds],
  );
  return {
    contradictions,
    provoked,
    events: { published: publishedEventIds.length, archived: archived.rows[0]?.n ?? 0 },
  };
}
