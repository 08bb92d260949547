/**
 * Agents' lineage rows, written together on the real Postgres as the agent's own role: rows recorded while
 * a write is out leave in one statement, each writer told when its row is in; an event handled twice in one
 * write keeps its latest handling; a write the database refuses is reported, never thrown.
 */
import { join } from 'node:path';
import { addAgentRole, createPgPool, type SqlPool } from '@accord/sdk';
import { TestContext } from '@accord/testing';
import { type LineageRow, LineageWriter } from '../../src/agents/lineage-writer';

jest.setTimeout(60000);

const ROOT = join(__dirname, '../../../..');
const ctx = new TestContext();
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const AGENT = 't_lineage';
let agentPool: SqlPool;

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  await addAgentRole(admin, AGENT, []);
  agentPool = createPgPool(db.url(`accord_agent_${AGENT}`), { max: 2 });
});

afterAll(async () => {
  await agentPool.end();
  await admin.end();
  await ctx.cleanup();
});

/** The agent's pool, counting the statements sent through it. */
function counted(): { pool: SqlPool; statements: () => number } {
  let n = 0;
  const pool = {
    ...agentPool,
    query: (...args: Parameters<SqlPool['query']>) => {
      n++;
      return agentPool.query(...args);
    },
  } as unknown as SqlPool;
  return { pool, statements: () => n };
}

const row = (eventId: string, over: Partial<LineageRow> = {}): LineageRow => ({
  agent: AGENT,
  event_id: eventId,
  event_type: 'accord.commerce.OrderPlaced',
  entity_type: 'order',
  entity_id: `o-${eventId}`,
  topic: 'commerce.order.events',
  partition: 3,
  kafka_offset: '9007199254740993', // past a double's integers: kept exact
  correlation_id: `corr-${eventId}`,
  trace_id: null,
  outcome: 'proposed',
  reads: [{ entityType: 'customer', entityId: 'c-1', feature: 'order_count', stalenessMs: 4, value: 2 }],
  contracts: [],
  proposals: [{ proposalId: `p-${eventId}`, entityType: 'order', entityId: 'o-1', action: 'discount' }],
  emitted: [],
  error: null,
  latency_ms: 12.5,
  ...over,
});

test('rows recorded while a write is out leave together, each writer told once its row is in', async () => {
  const { pool, statements } = counted();
  const failures: string[] = [];
  const writer = new LineageWriter(pool, (error) => failures.push(error));
  const ids = Array.from({ length: 300 }, (_, i) => `e-${i}`);
  // The first write leaves alone (an idle writer does not wait); the 299 recorded meanwhile leave in one.
  await Promise.all(ids.map((id) => writer.write(row(id))));
  expect(statements()).toBe(2);
  expect(failures).toEqual([]);
  const { rows } = await admin.query<{ n: number }>(
    'select count(*)::int as n from agent_runs where agent = $1',
    [AGENT],
  );
  expect(rows[0]?.n).toBe(300);
  const one = await admin.query(
    `select event_type, entity_id, partition, kafka_offset::text as kafka_offset, correlation_id, trace_id,
       outcome, reads, proposals, error, latency_ms from agent_runs where agent = $1 and event_id = 'e-42'`,
    [AGENT],
  );
  expect(one.rows[0]).toEqual({
    event_type: 'accord.commerce.OrderPlaced',
    entity_id: 'o-e-42',
    partition: 3,
    kafka_offset: '9007199254740993',
    correlation_id: 'corr-e-42',
    trace_id: null,
    outcome: 'proposed',
    reads: [{ entityType: 'customer', entityId: 'c-1', feature: 'order_count', stalenessMs: 4, value: 2 }],
    proposals: [{ proposalId: 'p-e-42', entityType: 'order', entityId: 'o-1', action: 'discount' }],
    error: null,
    latency_ms: 12.5,
  });
});

test('an event handled twice in one write keeps its latest handling; a rewrite replaces the row', async () => {
  const writer = new LineageWriter(agentPool, () => {});
  await Promise.all([
    writer.write(row('twice-0')), // leaves alone
    writer.write(row('twice', { outcome: 'failed', error: 'boom' })),
    writer.write(row('twice', { outcome: 'idle', proposals: [] })),
  ]);
  await writer.write(row('twice-0', { outcome: 'refused' }));
  const { rows } = await admin.query<{ event_id: string; outcome: string; error: string | null }>(
    `select event_id, outcome, error from agent_runs where agent = $1 and event_id like 'twice%' order by 1`,
    [AGENT],
  );
  expect(rows).toEqual([
    { event_id: 'twice', outcome: 'idle', error: null },
    { event_id: 'twice-0', outcome: 'refused', error: null },
  ]);
});

test('a write the database refuses is reported with its events and resolves; the next write goes on', async () => {
  const failures: { error: string; eventIds: string[] }[] = [];
  const writer = new LineageWriter(agentPool, (error, eventIds) => failures.push({ error, eventIds }));
  // Row-level security: an agent's role writes its own rows only.
  await Promise.all([
    writer.write(row('mine-1')),
    writer.write(row('theirs-1', { agent: 'someone_else' })),
    writer.write(row('mine-2')),
    writer.write(row('nul-1', { reads: [{ feature: 'note', value: 'a\u0000b' }] })), // jsonb holds no NUL
  ]);
  // The refused statement's rows were tried one by one: only the forbidden one is lost, and reported.
  expect(failures).toEqual([
    { error: expect.stringContaining('row-level security'), eventIds: ['theirs-1'] },
    { error: expect.stringContaining('unsupported Unicode escape sequence'), eventIds: ['nul-1'] },
  ]);
  await writer.write(row('mine-3'));
  const { rows } = await admin.query<{ event_id: string }>(
    `select event_id from agent_runs where agent = $1 and event_id like 'mine-%' order by 1`,
    [AGENT],
  );
  expect(rows.map((r) => r.event_id)).toEqual(['mine-1', 'mine-2', 'mine-3']);
});
