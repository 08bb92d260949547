/**
 * What an agent may and may not do, on the real stack: it emits its own events (declared types only,
 * validated, caused by the event it handles); its role writes no entity table, no other group's
 * checkpoints and no other agent's journal; a decision nobody makes times out, retriably.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  addAgentRole,
  createAccord,
  createAgent,
  createPgPool,
  DecisionWaiter,
  defineAgent,
  resolveConfig,
} from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 4 });
const EMITTER = 't_emitter';
const group = uniqueName('t-agent');
const OTHER_GROUP = uniqueName('t-agent');
const stops: (() => Promise<void>)[] = [];
let orders: string;

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  orders = await ctx.createTopic({ partitions: 2 });
  await addAgentRole(admin, EMITTER, [group]);
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  await system.publisher({ producer: 'checkout', autoRegister: true }).publishMany(
    [0, 1, 2, 3, 4].map((i) => ({
      type: 'accord.commerce.OrderPlaced' as const,
      data: { orderId: `o-${i}`, customerId: 'c-1', lines: [], totalCents: 100, currency: 'EUR' },
      options: { entityId: `o-${i}`, topic: orders },
    })),
  );
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await admin.end();
  await ctx.cleanup();
});

test('an agent emits its own events, validated and caused by the event it handles', async () => {
  const emitted = await ctx.createTopic({ partitions: 1 });
  const emitterAccord = createAccord({
    catalog: referenceCatalog,
    databaseUrl: db.url(`accord_agent_${EMITTER}`),
  });
  const sent: { eventId: string; cause: string }[] = [];
  const refused: string[] = [];
  const agent = createAgent(
    emitterAccord,
    defineAgent({
      name: EMITTER,
      consumes: [orders],
      emits: ['accord.commerce.DiscountApproved'],
      async handle(event, c) {
        if (event.type !== 'accord.commerce.OrderPlaced') return;
        const orderId = event.data.orderId as string;
        const record = await c.emit(
          'DiscountApproved',
          { orderId, percent: 1, approvedBy: EMITTER },
          { entityId: orderId, topic: emitted },
        );
        sent.push({ eventId: record.eventId, cause: event.eventId });
        // Only what it declared: anything else is refused before it is sent.
        await c
          .emit(
            'RiskFlagged',
            { customerId: 'c', riskScore: 1, action: 'BLOCK', reason: 'x' },
            { entityId: 'c', topic: emitted },
          )
          .catch((error: Error) => refused.push(error.message));
      },
    }),
    { group },
  );
  stops.push(async () => {
    await agent.stop();
    await emitterAccord.close();
  });
  await agent.start();
  await eventually(() => sent.length >= 5, { what: () => `five emitted events (${sent.length})` });
  expect(refused[0]).toBe(
    `agent ${EMITTER} emits accord.commerce.RiskFlagged, which its emits list does not name`,
  );
  const ops = await Ops.connect(resolveConfig({ databaseUrl: db.url() }));
  const read: { envelope: { eventId: string; causationId: string; producer: string } }[] = [];
  try {
    let done: () => void = () => {};
    const until = new Promise<void>((r) => {
      done = r;
    });
    await ops.tail(emitted, { from: 'earliest', max: 5, until }, (record) => {
      read.push(record.value as (typeof read)[number]);
      if (read.length >= 5) done();
    });
  } finally {
    await ops.close();
  }
  expect(read.map((r) => [r.envelope.eventId, r.envelope.causationId, r.envelope.producer]).sort()).toEqual(
    sent
      .slice(0, 6)
      .map((s) => [s.eventId, s.cause, EMITTER])
      .sort(),
  );
});

test("an agent's role writes no entity table and no other group's checkpoints", async () => {
  const asAgent = createPgPool(db.url(`accord_agent_${EMITTER}`), { max: 1 });
  try {
    await expect(asAgent.query(`insert into order_entities (entity_id) values ('x')`)).rejects.toMatchObject({
      code: '42501',
    });
    // Another group's rows: invisible to its writes (row-level security), and not insertable.
    await admin.query(
      `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset)
       values ('x', $1, 'other', 0, '0', 0)`,
      [OTHER_GROUP],
    );
    const { rowCount } = await asAgent.query(
      `update pipeline_checkpoints set updated_at = now() where consumer_group = $1`,
      [OTHER_GROUP],
    );
    expect(rowCount).toBe(0);
    await expect(
      asAgent.query(
        `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset)
         values ('x', $1, 't', 1, '0', 0)`,
        [OTHER_GROUP],
      ),
    ).rejects.toMatchObject({ code: '42501' });
    // Its own rows: it advances them (the pipeline does, every chunk).
    const own = await asAgent.query(
      `update pipeline_checkpoints set updated_at = now() where consumer_group = $1`,
      [group],
    );
    expect(own.rowCount).toBeGreaterThan(0);
    // Its journal only.
    await expect(
      asAgent.query(
        `insert into agent_side_effects (agent, event_id, name, result) values ($1, 'e', 'n', '{}')`,
        ['t_cautious'],
      ),
    ).rejects.toMatchObject({ code: '42501' });
  } finally {
    await asAgent.end();
  }
});

test('a decision nobody makes times out with a retriable DECISION_TIMEOUT', async () => {
  const waiter = new DecisionWaiter(admin);
  try {
    await expect(waiter.decision('order', uniqueName('nobody'), 300)).rejects.toMatchObject({
      code: 'DECISION_TIMEOUT',
      retriable: true,
      message: expect.stringMatching(/waits in Kafka until the order owner runs/),
    });
  } finally {
    await waiter.close();
  }
});

test('a decision is told whole (the waiter reads nothing more); one whose reason would not fit a notification is read from the audit', async () => {
  const waiter = new DecisionWaiter(admin);
  const insert = `insert into order_decisions (decision_id, proposal_id, entity_id, agent, action, outcome, reason, version_before, version_after)
                  values ($1, $2, 'o-told', 'pricing', 'discount', 'ACCEPTED', $3, 4, 5)`;
  try {
    // Told whole: the row is gone by the time anyone could read it (inserted and deleted in one
    // transaction; NOTIFY is delivered at commit), so only the notification can answer.
    const told = uniqueName('p-told');
    const waiting = waiter.decision('order', told, 20_000);
    await eventually(async () => ((await waiter.waitingFor()) > 0 ? true : undefined), {
      what: 'the waiter listening and waiting',
    });
    const client = await admin.connect();
    try {
      await client.query('begin');
      await client.query(insert, [`d-${told}`, told, 'within budget']);
      await client.query('delete from order_decisions where proposal_id = $1', [told]);
      await client.query('commit');
    } finally {
      client.release();
    }
    await expect(waiting).resolves.toEqual({
      proposalId: told,
      decisionId: `d-${told}`,
      outcome: 'ACCEPTED',
      reason: 'within budget',
      versionBefore: 4,
      versionAfter: 5,
      conflictingVersion: null,
    });

    // A reason past NOTIFY's 8000 bytes: told by id only, read from the audit.
    const long = uniqueName('p-long');
    const reason = 'r'.repeat(9000);
    const waitingLong = waiter.decision('order', long, 20_000);
    await eventually(async () => ((await waiter.waitingFor()) > 0 ? true : undefined), {
      what: 'the waiter waiting for the long one',
    });
    await admin.query(insert, [`d-${long}`, long, reason]);
    const decided = await waitingLong;
    expect({ id: decided.decisionId, reason: decided.reason?.length }).toEqual({
      id: `d-${long}`,
      reason: 9000,
    });
  } finally {
    await waiter.close();
  }
});

test('waits made together read the audit together: each gets its own decision, an undecided one waits to be told', async () => {
  // A pool that counts the waiter's reads of the audit (everything else goes to the real pool).
  let reads = 0;
  const counting = {
    query: ((text: string, values?: unknown[]) => {
      if (text.includes('from order_decisions') || text.includes('from "order_decisions"')) reads++;
      return admin.query(text, values);
    }) as typeof admin.query,
    connect: () => admin.connect(),
    end: async () => {},
  };
  const waiter = new DecisionWaiter(counting);
  const ids = Array.from({ length: 20 }, (_, i) => uniqueName(`p-batch-${i}`));
  const insert = `insert into order_decisions (decision_id, proposal_id, entity_id, agent, action, outcome, reason, version_before, version_after)
                  values ($1, $2, 'o-batch', 'pricing', 'discount', $3, null, $4, null)`;
  try {
    for (const [i, id] of ids.slice(0, 19).entries())
      await admin.query(insert, [`d-${id}`, id, i % 2 ? 'REJECTED' : 'ESCALATED', i]);
    const waits = ids.map((id) => waiter.decision('order', id, 20_000));
    const early = await Promise.all(waits.slice(0, 19));
    expect(early.map((d) => [d.proposalId, d.decisionId, d.outcome, d.versionBefore])).toEqual(
      ids.slice(0, 19).map((id, i) => [id, `d-${id}`, i % 2 ? 'REJECTED' : 'ESCALATED', i]),
    );
    // 20 waits, read in at most two statements (the first, then the ones that queued behind it).
    expect([reads > 0, reads <= 2]).toEqual([true, true]);
    const last = ids[19] as string;
    await admin.query(insert, [`d-${last}`, last, 'ACCEPTED', 7]);
    await expect(waits[19]).resolves.toMatchObject({
      proposalId: last,
      decisionId: `d-${last}`,
      outcome: 'ACCEPTED',
    });
  } finally {
    await waiter.close();
  }
});
