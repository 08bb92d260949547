/**
 * An owner decides a chunk's proposals together (packages/sdk/src/owners/chunk.ts): a few statements for
 * the chunk instead of three per proposal. On the real stack, with a backlog so that chunks are long: the
 * answers are those of one proposal at a time (versions, duplicates within the chunk, redeliveries), a
 * decide that reads the database sees the decisions before it in the chunk, and one proposal whose decide
 * fails is dead-lettered while the rest of its chunk is decided.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  createPgPool,
  defineOwner,
  EventPublisher,
  grantCheckpointGroups,
  type Pipeline,
  propose,
  resolveConfig,
  TerminalError,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const owners: Pipeline[] = [];
const pools: { end(): Promise<void> }[] = [];
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test-agent',
  autoRegister: true,
});

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
});

afterAll(async () => {
  for (const owner of owners) await owner.stop();
  await publisher.close();
  for (const pool of pools) await pool.end();
  await admin.end();
  await ctx.cleanup();
});

/** An owner of `entityType` on a fresh one-partition proposals topic, started after `backlog` was published. */
async function ownerOver(
  entityType: string,
  backlog: (topic: string) => Promise<void>,
  decide: Parameters<typeof defineOwner>[0]['decide'],
): Promise<{ group: string }> {
  const topic = await ctx.createTopic({ partitions: 1 });
  await backlog(topic);
  const group = uniqueName('t-owner');
  await grantCheckpointGroups(admin, `accord_owner_${entityType}`, [group]);
  const pool = createPgPool(db.url(`accord_owner_${entityType}`), { max: 6 });
  pools.push(pool);
  const owner = defineOwner({
    entityType,
    topic,
    group,
    config: resolveConfig({ databaseUrl: db.url(`accord_owner_${entityType}`) }),
    pool,
    decide,
  });
  owners.push(owner);
  ctx.onCleanup(async () => {
    await (await ctx.kafkaAdmin()).deleteTopics({ topics: [`${group}.dlq`] }).catch(() => {});
  });
  await owner.start();
  return { group };
}

/** Waits until `table` holds `n` decisions (60 s), saying how many it had. */
async function decisions(table: string, n: number): Promise<void> {
  let seen = 0;
  await eventually(
    async () => {
      seen = await count(`select count(*) as n from ${table}`);
      return seen === n;
    },
    { timeoutMs: 60000, what: () => `${n} decisions in ${table}, got ${seen}` },
  );
}

const count = async (sql: string, values: unknown[] = []) =>
  Number((await admin.query<{ n: string }>(sql, values)).rows[0]?.n);

test('a backlog decided a chunk at a time: the answers of one at a time, in a few statements per chunk', async () => {
  const sent: string[] = [];
  const send = async (
    topic: string,
    entity: string,
    i: number,
    extra: { proposalId?: string; key?: string } = {},
  ) => {
    const id = await propose(
      publisher,
      'order',
      entity,
      'set_note',
      { note: `n${i}` },
      {
        agent: 'support',
        topic,
        idempotencyKey: extra.key ?? `k-${i}`,
        expectedVersion: i % 4 === 3 ? 0 : null, // every fourth one expects version 0: stale unless first
        ...(extra.proposalId ? { proposalId: extra.proposalId } : {}),
      },
    );
    sent.push(id);
    return id;
  };
  await ownerOver(
    'order',
    async (topic) => {
      for (let i = 0; i < 200; i++) await send(topic, `o-${i % 10}`, i);
      await send(topic, 'o-0', 1000, { proposalId: sent[5] }); // the same proposal delivered again
      await send(topic, 'o-1', 1001, { key: 'k-7' }); // a re-sent idempotency key
    },
    ({ proposal, current }) => ({
      outcome: 'ACCEPTED',
      state: {
        ...current.state,
        note: proposal.change.note,
        changes: Number(current.state.changes ?? 0) + 1,
      },
    }),
  );
  await decisions('order_decisions', 201);
  // One decision per proposal id (the redelivery decided nothing), the re-sent key refused as a duplicate.
  expect(await count('select count(distinct proposal_id) as n from order_decisions')).toBe(201);
  const duplicate = await admin.query<{ outcome: string; reason: string }>(
    'select outcome, reason from order_decisions where proposal_id = $1',
    [sent[201]],
  );
  expect(duplicate.rows).toEqual([
    {
      outcome: 'REJECTED',
      reason: expect.stringMatching(/^duplicate: idempotency key k-7 was already used/),
    },
  ]);
  // Versions as one at a time: each accepted change on the version before it, stale ones refused, and the
  // entity's state the last accepted one's.
  expect(
    await count(
      `select count(*) as n from (select entity_id, version_before from order_decisions where outcome = 'ACCEPTED'
        group by 1, 2 having count(*) > 1) t`,
    ),
  ).toBe(0);
  expect(
    await count(`select count(*) as n from order_decisions where reason like 'stale:%'`),
  ).toBeGreaterThan(0);
  const entities = await admin.query<{ version: string; changes: number; accepted: string; last: string }>(
    `select e.version, (e.state->>'changes')::int as changes,
            (select count(*) from order_decisions d where d.entity_id = e.entity_id and d.outcome = 'ACCEPTED') as accepted,
            (select d.state_after->>'note' from order_decisions d where d.entity_id = e.entity_id and d.outcome = 'ACCEPTED'
              order by d.version_after desc limit 1) = e.state->>'note' as last
       from order_entities e`,
  );
  expect(entities.rows).toHaveLength(10);
  for (const e of entities.rows)
    expect({ changes: e.changes, accepted: Number(e.accepted), last: e.last }).toEqual({
      changes: Number(e.version),
      accepted: Number(e.version),
      last: true,
    });
  // The outbox queued every decision in the order decided.
  expect(
    await count(
      `select count(*) as n from (select o.id, d.proposal_id from order_outbox o join order_decisions d using (decision_id)) t`,
    ),
  ).toBe(201);
  // A few statements per chunk: rows written by one statement share their command id (cmin) within the
  // transaction; one statement per decision would give each its own.
  const statements = await count('select count(distinct (xmin::text, cmin::text)) as n from order_decisions');
  expect(statements).toBeLessThan(201 / 10);
});

test('a decide that reads sees the decisions before it in its chunk', async () => {
  await ownerOver(
    'payment',
    async (topic) => {
      for (let i = 0; i < 60; i++)
        await propose(publisher, 'payment', `p-${i % 3}`, 'charge', { i }, { agent: 'billing', topic });
    },
    async ({ proposal, current, tx }) => {
      // What the audit says of this entity so far: must count every decision before this one.
      const { rows } = await tx.query<{ n: string }>(
        `select count(*) as n from payment_decisions where entity_id = $1 and outcome = 'ACCEPTED'`,
        [proposal.entityId],
      );
      return { outcome: 'ACCEPTED', state: { audited: Number(rows[0]?.n), version: current.version } };
    },
  );
  await decisions('payment_decisions', 60);
  const states = await admin.query<{ audited: number; version: number }>(
    `select (state_after->>'audited')::int as audited, (state_after->>'version')::int as version from payment_decisions`,
  );
  expect(states.rows.filter((s) => s.audited !== s.version)).toEqual([]);
});

test('a decide that fails is dead-lettered alone; the rest of its chunk is decided', async () => {
  const sent: string[] = [];
  const { group } = await ownerOver(
    'customer',
    async (topic) => {
      for (let i = 0; i < 60; i++)
        sent.push(
          await propose(
            publisher,
            'customer',
            `c-${i % 3}`,
            i === 31 ? 'poison' : 'flag',
            { i },
            {
              agent: 'risk',
              topic,
            },
          ),
        );
    },
    ({ proposal, current }) => {
      if (proposal.action === 'poison') throw new TerminalError(`cannot flag ${proposal.proposalId}`);
      return { outcome: 'ACCEPTED', state: { ...current.state, last: proposal.change.i } };
    },
  );
  await decisions('customer_decisions', 59);
  expect(await count('select count(*) as n from customer_decisions where proposal_id = $1', [sent[31]])).toBe(
    0,
  );
  expect(await count('select sum(version) as n from customer_entities')).toBe(59);
  // The poison proposal is in the owner's dead-letter topic, with where it came from.
  const kafkaAdmin = await ctx.kafkaAdmin();
  await eventually(
    async () =>
      (await kafkaAdmin.fetchTopicOffsets(`${group}.dlq`).catch(() => [])).reduce(
        (n, o) => n + Number(o.high),
        0,
      ) === 1,
    { timeoutMs: 30000, what: 'one dead letter' },
  );
  const consumer = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  const letters: Record<string, string>[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: `${group}.dlq`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        letters.push(
          Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        );
      },
    });
    await eventually(() => letters.length === 1, { what: 'the dead letter read' });
  } finally {
    await consumer.disconnect();
  }
  expect(letters[0]?.['accord-dlq-source']).toMatch(/\/0\/31$/);
});
