import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AccordError, isAccordError, UsageError } from '@accord/sdk';
import type { Ops } from '@accord/sdk/ops';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { fleetStatus } from '../agents/fleet';
import { selectDeadLetters } from '../commands/dlq';
import { brief, html, layout, type Raw, tableOf } from './html';
import { fleetTable, lineageView, metricCharts, objectives } from './pages';

export interface ConsoleOptions {
  ops: Ops;
  /** Who acts (recorded with every dead-letter action and escalation resolution). */
  user: string;
  /** The main job's HTML report, served at /report when it exists. */
  reportFile?: string;
  /** Minutes of history the charts show. Default 60. */
  minutes?: number;
}

const ASSETS = join(__dirname, '..', '..', 'assets');
const CHART_JS = join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');

function asset(file: string, type: string): { body: Buffer; type: string } {
  return { body: readFileSync(file), type };
}

/**
 * The web console: read-only pages over the platform's own data (Postgres, Kafka, the agents'
 * supervisor), and two operator actions (dead letters, escalations) that are POSTs from explicit forms,
 * behind the same checks as the CLI, with a per-process form token. Every value shown is escaped
 * (console/html.ts); scripts come only from /assets (Content-Security-Policy).
 */
export function createConsole(options: ConsoleOptions): FastifyInstance {
  const { ops, user } = options;
  const minutes = options.minutes ?? 60;
  const token = randomBytes(18).toString('base64url');
  const app = Fastify({ logger: false });
  app.register(formbody);
  const assets: Record<string, { body: Buffer; type: string }> = {
    'console.js': asset(join(ASSETS, 'console.js'), 'text/javascript; charset=utf-8'),
    'console.css': asset(join(ASSETS, 'console.css'), 'text/css; charset=utf-8'),
    'chart.umd.min.js': asset(CHART_JS, 'text/javascript; charset=utf-8'),
  };
  app.addHook('onSend', async (_req, reply) => {
    reply.header(
      'content-security-policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    );
    reply.header('x-content-type-options', 'nosniff');
  });
  const page = (
    reply: FastifyReply,
    title: string,
    active: string,
    body: Raw,
    status = 200,
    flash?: string,
  ) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(layout(title, active, body, flash));
  const tokenField = () => html`<input type="hidden" name="token" value="${token}">`;
  const checkToken = (given: unknown) => {
    const a = Buffer.from(String(given ?? ''));
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      throw new UsageError(
        'the form is stale or did not come from this console: reload the page and try again',
      );
  };
  const flashOf = (q: unknown) => {
    const f = (q as { done?: unknown })?.done;
    return typeof f === 'string' ? f.slice(0, 300) : undefined;
  };

  app.setErrorHandler((error, _req, reply) => {
    const accord = isAccordError(error) ? error : undefined;
    const status = accord?.code === 'NOT_FOUND' ? 404 : accord?.code === 'USAGE' ? 400 : accord ? 503 : 500;
    const message = accord ? accord.message : `unexpected error: ${(error as Error).message}`;
    return page(
      reply,
      status === 404 ? 'Not found' : 'Error',
      '',
      html`<p class="error">${message}</p>`,
      status,
    );
  });
  app.setNotFoundHandler((req, reply) =>
    page(reply, 'Not found', '', html`<p class="error">not found: ${req.url}</p>`, 404),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const a = assets[req.params.file];
    if (!a) throw new AccordError('NOT_FOUND', `no asset ${req.params.file}`);
    return reply.type(a.type).header('cache-control', 'max-age=300').send(a.body);
  });

  app.get('/', async (_req, reply) => {
    const [fleet, decisions, agents, lag, incidents] = await Promise.all([
      fleetStatus(ops),
      ops.decisionSeries(minutes),
      ops.agentSeries(minutes),
      ops.lag(),
      ops.incidentSeries(minutes),
    ]);
    return page(
      reply,
      'Fleet',
      '/',
      html`${objectives(decisions, agents)}<h2>Agents</h2>${fleetTable(fleet)}<h2>Over the last ${minutes} minutes</h2>${metricCharts(decisions, agents, lag, incidents)}`,
    );
  });

  app.get('/pipelines', async (_req, reply) => {
    const [lag, incidents] = await Promise.all([ops.lag(), ops.incidents(undefined, 20)]);
    return page(
      reply,
      'Pipelines',
      '/pipelines',
      html`${tableOf(
        ['group', 'topic', 'partition', 'checkpoint', 'end', 'lag', 'state'],
        lag.map(
          (l) =>
            html`<tr><td>${l.group}</td><td>${l.topic}</td><td>${l.partition}</td><td>${l.checkpoint}</td><td>${l.logEnd}</td><td>${l.lag}</td><td>${
              l.stuck ? `stuck ${l.idleSeconds} s` : l.replaying ? 'replaying' : 'ok'
            }</td></tr>`,
        ),
      )}<h2>Incidents (gaps, identity changes)</h2>${tableOf(
        ['when', 'group', 'partition', 'kind', 'action', 'detail'],
        incidents.map(
          (i) =>
            html`<tr><td>${i.detectedAt}</td><td>${i.group}</td><td>${i.topic}[${i.partition}]</td><td>${i.kind}</td><td>${i.action}</td><td>${i.detail}</td></tr>`,
        ),
      )}`,
    );
  });

  app.get('/dead-letters', async (req, reply) => {
    const groups = await ops.deadLetterGroups();
    const counts = await Promise.all(
      groups.map(async (g) => {
        const letters = await ops.deadLetters(g);
        return { group: g, total: letters.length, open: letters.filter((l) => !l.action).length };
      }),
    );
    return page(
      reply,
      'Dead letters',
      '/dead-letters',
      tableOf(
        ['group', 'dead letters', 'open'],
        counts.map(
          (c) =>
            html`<tr><td><a href="/dead-letters/${encodeURIComponent(c.group)}">${c.group}</a></td><td>${c.total}</td><td>${c.open}</td></tr>`,
        ),
      ),
      200,
      flashOf(req.query),
    );
  });

  app.get<{ Params: { group: string } }>('/dead-letters/:group', async (req, reply) => {
    const { group } = req.params;
    if (!(await ops.deadLetterGroups()).includes(group))
      throw new AccordError('NOT_FOUND', `no dead-letter topic ${group}.dlq`);
    const letters = await ops.deadLetters(group);
    const action = (offset: string) =>
      html`<form class="inline" method="post" action="/dead-letters/${encodeURIComponent(group)}/act">${tokenField()}<input type="hidden" name="offset" value="${offset}"><button name="action" value="replay">Replay</button><button name="action" value="discard">Discard</button></form>`;
    return page(
      reply,
      `Dead letters of ${group}`,
      '/dead-letters',
      tableOf(
        ['offset', 'source', 'error', 'attempts', 'message', 'key', 'done', ''],
        letters.map(
          (d) =>
            html`<tr class="letter"><td>${d.dlqOffset}</td><td>${d.letter ? `${d.letter.topic}[${d.letter.partition}]@${d.letter.offset}` : '?'}</td><td>${d.letter?.errorCode ?? '?'}</td><td>${d.letter?.attempts ?? '?'}</td><td>${d.letter?.errorMessage ?? ''}</td><td class="mono">${brief(d.letter?.key?.toString() ?? '', 40)}</td><td>${d.action ?? '-'}</td><td>${d.action ? '' : action(d.dlqOffset)}</td></tr>`,
        ),
      ),
      200,
      flashOf(req.query),
    );
  });

  app.post<{ Params: { group: string }; Body: Record<string, string> }>(
    '/dead-letters/:group/act',
    async (req, reply) => {
      checkToken(req.body?.token);
      const { group } = req.params;
      const act = req.body?.action;
      if (act !== 'replay' && act !== 'discard') throw new UsageError('action must be replay or discard');
      const letters = await ops.deadLetters(group);
      const chosen = selectDeadLetters(group, letters, [String(req.body?.offset ?? '')], false);
      const done = act === 'replay' ? 'replayed' : 'discarded';
      await ops.actOnDeadLetters(group, chosen, done, user);
      return reply.redirect(
        `/dead-letters/${encodeURIComponent(group)}?done=${encodeURIComponent(`${done} dead letter ${chosen.map((c) => c.dlqOffset).join(', ')} of ${group} (by ${user})`)}`,
        303,
      );
    },
  );

  app.get<{ Querystring: { status?: string; done?: string } }>('/escalations', async (req, reply) => {
    const status =
      (['open', 'accepted', 'rejected', 'all'] as const).find((s) => s === req.query.status) ?? 'open';
    const rows = await ops.escalations({ status });
    const resolve = (id: number) =>
      html`<form class="inline resolve" method="post" action="/escalations/${id}/resolve">${tokenField()}<input type="text" name="reason" placeholder="reason (audited)" required aria-label="reason for #${id}"><button name="verdict" value="accept">Accept</button><button name="verdict" value="reject">Reject</button></form>`;
    return page(
      reply,
      'Escalations',
      '/escalations',
      html`<p>${(['open', 'accepted', 'rejected', 'all'] as const).map(
        (s) => html`<a href="/escalations?status=${s}">${s}</a> `,
      )}</p>${tableOf(
        ['id', 'escalated', 'entity', 'agent', 'action', 'change', 'reason', 'status', ''],
        rows.map(
          (r) =>
            html`<tr class="escalation"><td>#${r.id}</td><td>${r.escalatedAt}</td><td>${r.entityType} ${r.entityId}</td><td>${r.agent}</td><td>${r.action}</td><td class="mono">${brief(r.change)}</td><td>${r.reason ?? ''}</td><td>${
              r.status === 'open' ? 'open' : `${r.status} by ${r.resolvedBy}`
            }</td><td>${r.status === 'open' ? resolve(r.id) : html`<a href="/trace/${encodeURIComponent(r.proposalId)}">lineage</a>`}</td></tr>`,
        ),
      )}`,
      200,
      flashOf(req.query),
    );
  });

  app.post<{ Params: { id: string }; Body: Record<string, string> }>(
    '/escalations/:id/resolve',
    async (req, reply) => {
      checkToken(req.body?.token);
      if (!/^\d+$/.test(req.params.id)) throw new UsageError(`not an escalation id: ${req.params.id}`);
      const verdict = req.body?.verdict;
      if (verdict !== 'accept' && verdict !== 'reject')
        throw new UsageError('give exactly one of accept, reject');
      const { escalation, decision } = await ops.resolveEscalation(Number(req.params.id), {
        accept: verdict === 'accept',
        reason: String(req.body?.reason ?? ''),
        by: user,
        timeoutMs: 30_000,
      });
      return reply.redirect(
        `/escalations?status=all&done=${encodeURIComponent(`escalation #${escalation.id} (${escalation.entityType} ${escalation.entityId}): ${decision.outcome} by ${user}`)}`,
        303,
      );
    },
  );

  // The main job's latest report (services/commerce writes it; its values are escaped there).
  app.get('/report', async (_req, reply) => {
    const file = options.reportFile;
    if (!file || !existsSync(file))
      throw new AccordError('NOT_FOUND', `no report yet (${file}): run scripts/demo.sh`);
    return reply.type('text/html; charset=utf-8').send(readFileSync(file));
  });

  app.get('/conflicts', async (_req, reply) => {
    const rows = await ops.recentConflicts(50);
    return page(
      reply,
      'Recent conflicts',
      '/conflicts',
      tableOf(
        ['decided', 'entity', 'agent', 'action', 'expected', 'was at', 'outcome', 'rule', ''],
        rows.map(
          (c) =>
            html`<tr class="conflict"><td>${c.decidedAt}</td><td>${c.entityType} ${c.entityId}</td><td>${c.agent}</td><td>${c.action}</td><td>v${c.expectedVersion ?? '?'}</td><td>v${c.conflictingVersion}</td><td>${c.outcome}</td><td>${c.reason ?? ''}</td><td><a href="/trace/${encodeURIComponent(c.decisionId)}">lineage</a></td></tr>`,
        ),
      ),
    );
  });

  app.get<{ Querystring: { id?: string } }>('/trace', async (req, reply) => {
    if (req.query.id) return reply.redirect(`/trace/${encodeURIComponent(req.query.id.trim())}`, 303);
    return page(
      reply,
      'Lineage',
      '/trace',
      html`<form method="get" action="/trace"><input type="text" name="id" placeholder="event, proposal or decision id" size="48" required aria-label="id"><button>Show</button></form>`,
    );
  });

  app.get<{ Params: { id: string } }>('/trace/:id', async (req, reply) =>
    page(reply, 'Lineage', '/trace', lineageView(await ops.lineage(req.params.id))),
  );

  return app;
}
