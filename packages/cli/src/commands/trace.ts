import { UsageError } from '@accord/sdk';
import type { Lineage, LineageEvent } from '@accord/sdk/ops';
import type { Command } from '../command';
import { toJson } from '../json';
import { withStackOps } from '../operator';

const short = (v: unknown, max = 80): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? '' : s.length > max ? `${s.slice(0, max - 1)}…` : s;
};
const at = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : '?');

function eventLine(e: LineageEvent): string {
  const where = e.topic ? `  ${e.topic}[${e.partition}]@${e.offset}` : '';
  return `${e.eventType} ${e.eventId}  ${e.entityType ?? ''} ${e.entityId ?? ''}  by ${e.producer ?? '?'} at ${at(e.occurredAt)}${where}`;
}

/** The chain as text: one section per step, indented under what caused it. */
export function formatLineage(l: Lineage, out: (line: string) => void): void {
  out(`Lineage of ${l.found} ${l.id}${l.traceIds.length ? `  (trace ${l.traceIds.join(', ')})` : ''}`);
  out('');
  out('Triggering event');
  if (!l.trigger) out('  (none recorded: the proposal names no causing event)');
  else if ('archived' in l.trigger) out(`  ${l.trigger.eventId} (not in the event archive)`);
  else out(`  ${eventLine(l.trigger)}`);
  for (const a of l.agents) {
    out('');
    out(
      `Agent ${a.agent}: ${a.outcome}${a.latencyMs !== null ? ` in ${Math.round(a.latencyMs)} ms` : ''} at ${at(a.handledAt)}`,
    );
    if (a.error) out(`  error: ${a.error}`);
    for (const r of a.reads)
      out(
        `  read ${r.entityType} ${r.entityId} ${r.feature} = ${r.missing ? `missing (${r.missing})` : short(r.value, 40)}${r.stalenessMs !== null ? `  staleness ${r.stalenessMs} ms` : ''}`,
      );
    for (const c of a.contracts) out(`  contract ${c.ref} → ${short(c.result, 40)}`);
    for (const s of a.sideEffects)
      out(`  side effect ${s.name} (${s.calls} call${s.calls === 1 ? '' : 's'}) → ${short(s.result, 60)}`);
    for (const r of a.refusals) out(`  refused: ${r.feature}: ${r.reason}`);
    for (const e of a.emitted) out(`  emitted ${e.type} ${e.eventId} to ${e.topic}`);
  }
  out('');
  out(l.proposals.length ? 'Proposals and decisions' : 'Proposals and decisions: none');
  for (const p of l.proposals) {
    out(
      `  proposal ${p.proposalId} by ${p.agent}: ${p.action} ${p.entityType} ${p.entityId} ${short(p.change, 60)}${p.expectedVersion !== null ? ` (expects v${p.expectedVersion})` : ''}`,
    );
    const d = p.decision;
    if (!d) {
      out('    not decided yet');
      continue;
    }
    const versions =
      d.versionAfter !== null ? `v${d.versionBefore} → v${d.versionAfter}` : `stays v${d.versionBefore}`;
    out(
      `    decision ${d.decisionId}: ${d.outcome} by owner-${p.entityType} at ${at(d.decidedAt)}  ${versions}`,
    );
    if (d.reason) out(`    rule: ${d.reason}`);
    if (d.conflictingVersion !== null)
      out(`    conflict: the ${p.entityType} was at v${d.conflictingVersion}`);
    if (d.escalation)
      out(
        `    escalation #${d.escalation.id}: ${d.escalation.status}${d.escalation.resolvedBy ? ` by ${d.escalation.resolvedBy}` : ''}`,
      );
  }
  out('');
  out(l.followed.length ? 'Followed by' : 'Followed by: nothing archived yet');
  for (const e of l.followed) out(`  ${eventLine(e)}`);
}

export const traceCommand: Command = {
  name: 'trace',
  summary: "print a decision's lineage: events, features read, proposals, decisions, what followed",
  usage: 'accord trace <eventId|proposalId|decisionId> [--json]',
  help: `Follows one id through the platform's records (the event archive, the agents' runs, the owners'
proposals and decisions, escalations, side effects) and prints the chain: the triggering event; for each
agent that handled it, the features it read with their staleness, the contracts it evaluated, its side
effects and refusals; the proposals it sent and each owner's decision with its rule; and the events that
followed (decision events, events caused by any of these). The agent's trace id links to the trace in
your tracing backend.

Options:
  --json   the chain as JSON`,
  options: { json: { type: 'boolean' } },
  async run({ positionals, values, out }) {
    const [id, ...extra] = positionals;
    if (!id) throw new UsageError('give an event, proposal or decision id (see: accord trace --help)');
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (see: accord trace --help)`);
    const chain = await withStackOps((ops) => ops.lineage(id));
    if (values.json) out(toJson(chain, 2));
    else formatLineage(chain, out);
    return 0;
  },
};
