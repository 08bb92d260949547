import { UsageError } from '@accord/sdk';
import type { EscalationRow } from '@accord/sdk/ops';
import { type Command, formatTable } from '../command';
import { toJson } from '../json';
import { who, withStackOps } from '../operator';

const STATUSES = ['open', 'accepted', 'rejected', 'all'] as const;

function table(rows: EscalationRow[], out: (line: string) => void): void {
  const lines = rows.map((r) => ({
    id: `#${r.id}`,
    escalated: r.escalatedAt.toISOString(),
    entity: `${r.entityType} ${r.entityId}`,
    agent: r.agent,
    action: r.action,
    change: JSON.stringify(r.change),
    status: r.status === 'open' ? 'open' : `${r.status} by ${r.resolvedBy}`,
    reason: r.reason ?? '',
  }));
  for (const line of formatTable(lines, [
    'id',
    'escalated',
    'entity',
    'agent',
    'action',
    'change',
    'status',
    'reason',
  ]))
    out(line);
}

export const escalationsCommand: Command = {
  name: 'escalations',
  summary: 'list proposals owners escalated to a person, and resolve them',
  usage:
    'accord escalations list [--status open|accepted|rejected|all] [--entity-type <t>] [--json]  |  accord escalations resolve <id> (--accept | --reject) --reason <text>',
  help: `An owner that cannot decide a proposal by its rules ESCALATES it: the proposal waits here for a person.

  list      escalations, oldest first (open ones unless --status says otherwise)
  resolve   accept (the escalated change is applied to the entity's current state) or reject it. The
            resolution goes to the entity's owner as a proposal, which the owner applies in its own
            transaction and audits as a decision by operator:<you> (ACCORD_USER, or your login); the
            command waits for that decision and prints it.

Options:
  --status <s>        with list: open (default), accepted, rejected or all
  --entity-type <t>   with list: one entity type only
  --accept | --reject with resolve: the verdict
  --reason <text>     with resolve: why (required; audited)
  --timeout <s>       with resolve: how long to wait for the owner's decision (default 30)
  --json              machine-readable output`,
  options: {
    status: { type: 'string' },
    'entity-type': { type: 'string' },
    accept: { type: 'boolean' },
    reject: { type: 'boolean' },
    reason: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [sub, id, ...extra] = positionals;
    if (extra.length)
      throw new UsageError(`unexpected argument "${extra[0]}" (see: accord escalations --help)`);
    if (sub === 'list') {
      const status = (values.status ?? 'open') as (typeof STATUSES)[number];
      if (!STATUSES.includes(status))
        throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, got "${values.status}"`);
      const rows = await withStackOps((ops) =>
        ops.escalations({
          status,
          ...(typeof values['entity-type'] === 'string' ? { entityType: values['entity-type'] } : {}),
        }),
      );
      if (values.json) out(toJson(rows, 2));
      else {
        table(rows, out);
        out(`(${rows.length} ${status === 'all' ? '' : `${status} `}escalation(s))`);
      }
      return 0;
    }
    if (sub === 'resolve') {
      if (!id || !/^#?\d+$/.test(id))
        throw new UsageError('missing <id> of the escalation (see: accord escalations list)');
      if (Boolean(values.accept) === Boolean(values.reject))
        throw new UsageError('give exactly one of --accept, --reject');
      if (typeof values.reason !== 'string' || !values.reason.trim())
        throw new UsageError('missing --reason <text> (it is audited)');
      const timeout = values.timeout === undefined ? 30 : Number(values.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
      const reason = values.reason;
      const { escalation, decision } = await withStackOps((ops) =>
        ops.resolveEscalation(Number(id.replace('#', '')), {
          accept: values.accept === true,
          reason,
          by: who(),
          timeoutMs: timeout * 1000,
        }),
      );
      if (values.json) out(toJson({ escalation: escalation.id, decision }, 2));
      else
        out(
          `escalation #${escalation.id} (${escalation.entityType} ${escalation.entityId}): ${decision.outcome}${decision.versionAfter !== null ? ` (version ${decision.versionAfter})` : ''}: ${decision.reason ?? ''}`,
        );
      return decision.outcome === 'ACCEPTED' || values.reject ? 0 : 1;
    }
    throw new UsageError(
      `${sub ? `unknown subcommand "${sub}"` : 'missing subcommand'}: use list or resolve (see: accord escalations --help)`,
    );
  },
};
