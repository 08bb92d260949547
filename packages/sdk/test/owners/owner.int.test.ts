/**
 * Single writer on the real stack: 8 agents send 2,000 concurrent, conflicting proposals for 50 orders
 * (plus re-sent idempotency keys); the owner applies at most one change per entity and version, every
 * proposal gets exactly one decision, duplicates apply once, and the audit rebuilds every entity's state.
 * Postgres grants: an owner's role cannot write another owner's tables, nor rewrite its own audit.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  createPgPool,
  defineOwner,
  EventPublisher,
  grantCheckpointGroups,
  type LifecycleEvent,
  type Pipeline,
  propose,
  relayOutbox,
  resolveConfig,
  Telemetry,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(240000);

const ROOT = join(__dirname, '../../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const asRole = (role: string) => db.url(role);
const admin = createPgPool(db.url(), { max: 4 });
const ownerPool = createPgPool(asRole('accord_owner_order'), { max: 6 });
const run = uniqueName('t');
const proposalsTopic = `${run}.order.proposals`;
const eventsTopic = `${run}.order.events`;
const scoped = resolveConfig({ databaseUrl: asRole('accord_owner_order') });
let owner: Pipeline;

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const kafkaAdmin = await ctx.kafkaAdmin();
  await kafkaAdmin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: proposalsTopic, numPartitions: 6 },
      { topic: eventsTopic, numPartitions: 6 },
    ],
  });
  ctx.onCleanup(async () => {
    await kafkaAdmin.deleteTopics({ topics: [proposalsTopic, eventsTopic] });
  });
});

afterAll(async () => {
  await owner?.stop();
  await ownerPool.end();
  await admin.end();
  await ctx.cleanup();
});

test('2,000 concurrent conflicting proposals: one change per entity and version, one decision each, duplicates once, audit rebuilds state', async () => {
  const agents = ['risk', 'fulfillment', 'pricing', 'support', 'billing', 'inventory', 'loyalty', 'fraud'];
  const entities = Array.from({ length: 50 }, (_, i) => `order-${i}`);
  const publishers = agents.map(
    (agent) =>
      new EventPublisher({
        catalog: referenceCatalog,
        config,
        producer: `${agent}-agent`,
        autoRegister: true,
      }),
  );
  const sent: { proposalId: string; key: string; agent: string; entity: string }[] = [];
  try {
    await Promise.all(
      agents.map(async (agent, a) => {
        for (let i = 0; i < 250; i++) {
          const entity = entities[(i * 7 + a) % entities.length]!;
          const key = `${agent}-${i}`;
          // Agents decide on what they last saw: everyone believes version 0, or a recent guess.
          const expectedVersion = i % 3 === 0 ? null : Math.floor(i / 50);
          const proposalId = await propose(
            publishers[a]!,
            'order',
            entity,
            'set_note',
            { note: `${agent} ${i}` },
            {
              agent,
              expectedVersion,
              idempotencyKey: key,
              topic: proposalsTopic,
            },
          );
          sent.push({ proposalId, key, agent, entity });
        }
      }),
    );
    // An agent retries 40 proposals it is unsure about: same idempotency keys, new proposal ids.
    for (const original of sent.filter((s) => s.agent === 'pricing').slice(0, 40)) {
      const proposalId = await propose(
        publishers[2]!,
        'order',
        original.entity,
        'set_note',
        { note: 'retry' },
        {
          agent: 'pricing',
          idempotencyKey: original.key,
          topic: proposalsTopic,
        },
      );
      sent.push({ proposalId, key: original.key, agent: 'pricing', entity: original.entity });
    }
  } finally {
    await Promise.all(publishers.map((p) => p.close()));
  }
  expect(sent).toHaveLength(2040);

  const decided: Extract<LifecycleEvent, { type: 'decided' }>[] = [];
  const telemetry = new Telemetry();
  telemetry.on((e) => {
    if (e.type === 'decided') decided.push(e);
  });
  const ownerGroup = uniqueName('t-owner');
  await grantCheckpointGroups(admin, 'accord_owner_order', [ownerGroup]);
  owner = defineOwner({
    entityType: 'order',
    telemetry,
    topic: proposalsTopic,
    group: ownerGroup,
    config: scoped,
    pool: ownerPool,
    decide: ({ proposal, current }) => ({
      outcome: 'ACCEPTED',
      state: {
        ...current.state,
        note: proposal.change.note,
        lastAgent: proposal.agent,
        changes: Number(current.state.changes ?? 0) + 1,
      },
    }),
  });
  await owner.start();
  await eventually(
    async () => Number((await admin.query('select count(*) as n from order_decisions')).rows[0]?.n) === 2040,
    {
      timeoutMs: 180000,
      intervalMs: 500,
      what: '2,040 decisions',
    },
  );

  // The telemetry seam told each committed decision once, as the audit has it.
  await eventually(() => decided.length === 2040, {
    what: () => `2,040 decided events, got ${decided.length}`,
  });
  const audited = await admin.query<{ decision_id: string; outcome: string; agent: string }>(
    'select decision_id, outcome, agent from order_decisions order by decision_id',
  );
  expect(
    decided
      .map((d) => ({ decision_id: d.decisionId, outcome: d.outcome, agent: d.agent }))
      .sort((a, b) => a.decision_id.localeCompare(b.decision_id)),
  ).toEqual(audited.rows.sort((a, b) => a.decision_id.localeCompare(b.decision_id)));

  // Every proposal has exactly one decision.
  const perProposal = await admin.query(
    `select p.proposal_id, count(d.*) as n from order_proposals p left join order_decisions d using (proposal_id) group by 1 having count(d.*) <> 1`,
  );
  expect(perProposal.rows).toEqual([]);
  const ids = new Set(
    (await admin.query<{ proposal_id: string }>('select proposal_id from order_decisions')).rows.map(
      (r) => r.proposal_id,
    ),
  );
  for (const s of sent) expect(ids.has(s.proposalId)).toBe(true);

  // For each entity and version, at most one change was applied, and only on the version it expected.
  const twice = await admin.query(
    `select entity_id, version_before, count(*) from order_decisions where outcome = 'ACCEPTED' group by 1, 2 having count(*) > 1`,
  );
  expect(twice.rows).toEqual([]);
  const wrong = await admin.query(
    `select d.proposal_id from order_decisions d join order_proposals p using (proposal_id)
      where d.outcome = 'ACCEPTED' and p.expected_version is not null and p.expected_version <> d.version_before`,
  );
  expect(wrong.rows).toEqual([]);
  const stale = await admin.query<{ n: string }>(
    `select count(*) as n from order_decisions where reason like 'stale:%'`,
  );
  expect(Number(stale.rows[0]?.n)).toBeGreaterThan(0); // the agents really did conflict

  // Re-sent idempotency keys were applied once: the retries are refused as duplicates.
  const retries = sent.slice(2000).map((s) => s.proposalId);
  const dupes = await admin.query<{ outcome: string; reason: string }>(
    `select outcome, reason from order_decisions where proposal_id = any($1)`,
    [retries],
  );
  expect(dupes.rows).toHaveLength(40);
  for (const d of dupes.rows)
    expect(d).toMatchObject({
      outcome: 'REJECTED',
      reason: expect.stringMatching(/^duplicate: idempotency key /),
    });

  // The audit reconstructs every entity's final state.
  const rebuilt = await admin.query<{
    entity_id: string;
    version: string;
    state: Record<string, unknown>;
    accepted: string;
    last_state: Record<string, unknown>;
  }>(
    `select e.entity_id, e.version, e.state,
            (select count(*) from order_decisions d where d.entity_id = e.entity_id and d.outcome = 'ACCEPTED') as accepted,
            (select state_after from order_decisions d where d.entity_id = e.entity_id and d.outcome = 'ACCEPTED' order by version_after desc limit 1) as last_state
       from order_entities e`,
  );
  expect(rebuilt.rows).toHaveLength(50);
  for (const r of rebuilt.rows) {
    expect(Number(r.accepted)).toBe(Number(r.version));
    expect(r.last_state).toEqual(r.state);
    expect(r.state.changes).toBe(Number(r.version));
  }

  // The outbox carries every decision to the entity's events topic.
  const relay = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'order-owner',
    autoRegister: true,
  });
  try {
    let published = 0;
    for (
      let n = await relayOutbox(ownerPool, relay, 'order', { topic: eventsTopic });
      n > 0;
      n = await relayOutbox(ownerPool, relay, 'order', { topic: eventsTopic })
    ) {
      published += n;
    }
    expect(published).toBe(2040);
  } finally {
    await relay.close();
  }
  const offsets = await (await ctx.kafkaAdmin()).fetchTopicOffsets(eventsTopic);
  expect(offsets.reduce((s, o) => s + Number(o.high), 0)).toBe(2040);
});

test("an owner's role cannot write another owner's tables, nor rewrite its own audit", async () => {
  const types = ['customer', 'order', 'payment', 'stock_item'];
  for (const ownerType of types) {
    const pool = createPgPool(asRole(`accord_owner_${ownerType}`), { max: 1 });
    try {
      for (const other of types.filter((t) => t !== ownerType)) {
        for (const kind of ['entities', 'proposals', 'decisions', 'outbox']) {
          await expect(pool.query(`delete from "${other}_${kind}"`)).rejects.toMatchObject({ code: '42501' });
          await expect(
            pool.query(`update "${other}_${kind}" set entity_id = entity_id`),
          ).rejects.toMatchObject({ code: '42501' });
        }
        await expect(
          pool.query(`insert into "${other}_entities" (entity_id) values ('x')`),
        ).rejects.toMatchObject({ code: '42501' });
      }
      for (const kind of ['proposals', 'decisions']) {
        await expect(pool.query(`delete from "${ownerType}_${kind}"`)).rejects.toMatchObject({
          code: '42501',
        });
        await expect(
          pool.query(`update "${ownerType}_${kind}" set entity_id = entity_id`),
        ).rejects.toMatchObject({ code: '42501' });
      }
      await pool.query(
        `insert into "${ownerType}_entities" (entity_id) values ('allowed') on conflict do nothing`,
      );
      await expect(
        pool.query(`select entity_id from "${ownerType}_entities" where entity_id = 'allowed'`),
      ).resolves.toMatchObject({ rows: [{ entity_id: 'allowed' }] });
      const { rows } = await pool.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
        'select rolsuper, rolbypassrls from pg_roles where rolname = current_user',
      );
      expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
    } finally {
      await pool.end();
    }
  }
});
