/**
 * The reference order owner on the real stack, and what the owner runtime adds to any owner's rules:
 * ESCALATED proposals wait in the escalation queue until an operator resolves them (the resolution is
 * itself an audited decision, made by the owner); priority lets an outranking agent's stale proposal be
 * decided; a compensation must name a real earlier decision.
 */
import { join } from 'node:path';
import { REFERENCE_OWNERS, referenceCatalog } from '@accord/reference';
import {
  awaitDecision,
  createAccord,
  createPgPool,
  grantCheckpointGroups,
  propose,
  resolveConfig,
} from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';
import { TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(90000);

const ROOT = join(__dirname, '../../..');
const ctx = new TestContext();
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const stops: (() => Promise<void>)[] = [];
const groups = { order: uniqueName('t-owner'), customer: uniqueName('t-owner') };
let orders: string;
let customers: string;

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  orders = await ctx.createTopic({ partitions: 1 });
  customers = await ctx.createTopic({ partitions: 1 });
  const orderOwner = createAccord({ catalog: referenceCatalog, databaseUrl: db.url('accord_owner_order') });
  stops.push(() => orderOwner.close());
  await grantCheckpointGroups(admin, 'accord_owner_order', [groups.order]);
  await grantCheckpointGroups(admin, 'accord_owner_customer', [groups.customer]);
  await orderOwner.owner({ ...REFERENCE_OWNERS.order, topic: orders, group: groups.order }).start();
  const customerOwner = createAccord({
    catalog: referenceCatalog,
    databaseUrl: db.url('accord_owner_customer'),
  });
  stops.push(() => customerOwner.close());
  await customerOwner
    .owner({
      entityType: 'customer',
      topic: customers,
      group: groups.customer,
      // An owner whose rule undoes what the proposal names: the runtime checks the name is real.
      decide: ({ proposal, current }) => ({
        outcome: 'ACCEPTED',
        state: { ...current.state, ...proposal.change },
        ...(typeof proposal.change.undo === 'string' ? { compensates: proposal.change.undo } : {}),
      }),
    })
    .start();
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await admin.end();
  await ctx.cleanup();
});

const agents = createAccord({ catalog: referenceCatalog });
stops.push(() => agents.close());
const publisher = agents.publisher({ producer: 'agents', autoRegister: true });

async function ask(
  agent: string,
  entityType: 'order' | 'customer',
  entityId: string,
  action: string,
  change: Record<string, unknown>,
  expectedVersion: number | null,
) {
  const proposalId = await propose(publisher, entityType, entityId, action, change, {
    agent,
    expectedVersion,
    topic: entityType === 'order' ? orders : customers,
  });
  return awaitDecision(admin, entityType, proposalId, 30000);
}

test('an escalated discount waits for a person; the resolution is a decision the owner makes', async () => {
  const order = uniqueName('o');
  expect(await ask('checkout', 'order', order, 'place', { totalCents: 5000 }, 0)).toMatchObject({
    outcome: 'ACCEPTED',
    versionAfter: 1,
  });
  expect(await ask('pricing', 'order', order, 'discount', { discountPercent: 40 }, 1)).toMatchObject({
    outcome: 'ESCALATED',
    reason: 'a 40% discount is above the 30% agents may grant',
    versionAfter: null,
  });
  const ops = await Ops.connect(resolveConfig({ databaseUrl: db.url() }));
  stops.push(() => ops.close());
  const [open] = (await ops.escalations({ entityType: 'order' })).filter((e) => e.entityId === order);
  expect(open).toMatchObject({
    status: 'open',
    agent: 'pricing',
    action: 'discount',
    change: { discountPercent: 40 },
  });

  const { decision } = await ops.resolveEscalation(open!.id, {
    accept: true,
    reason: 'loyal customer',
    by: 'alice',
  });
  expect(decision).toMatchObject({ outcome: 'ACCEPTED', versionBefore: 1, versionAfter: 2 });
  expect(decision.reason).toBe(
    `operator:alice accepted escalation #${open!.id} (pricing discount): loyal customer`,
  );
  const { rows: entity } = await admin.query(
    'select version, state from order_entities where entity_id = $1',
    [order],
  );
  expect(entity[0]).toEqual({
    version: '2',
    state: { totalCents: 5000, status: 'placed', discountPercent: 40 },
  });
  const [closed] = await ops
    .escalations({ status: 'all' })
    .then((all) => all.filter((e) => e.id === open!.id));
  expect(closed).toMatchObject({
    status: 'accepted',
    resolvedBy: 'operator:alice',
    resolution: 'loyal customer',
  });
  expect(closed?.resolutionDecisionId).toEqual(expect.any(String));
  // Lineage: the resolution names the escalated proposal as its cause.
  const { rows: resolution } = await admin.query<{ causation_id: string; agent: string }>(
    `select causation_id, agent from order_proposals where action = 'accord.resolve-escalation' and entity_id = $1`,
    [order],
  );
  expect(resolution).toEqual([{ causation_id: open!.proposalId, agent: 'operator:alice' }]);
  await expect(
    ops.resolveEscalation(open!.id, { accept: false, reason: 'again', by: 'bob' }),
  ).rejects.toThrow(`escalation #${open!.id} is already accepted (by operator:alice)`);
});

test('priority: a stale proposal from an outranking agent is decided; from an outranked one, refused', async () => {
  const order = uniqueName('o');
  await ask('checkout', 'order', order, 'place', { totalCents: 100 }, 0);
  expect(await ask('pricing', 'order', order, 'discount', { discountPercent: 10 }, 1)).toMatchObject({
    outcome: 'ACCEPTED',
    versionAfter: 2,
  });
  // Both read version 1; pricing's change landed meanwhile.
  const risk = await ask('risk', 'order', order, 'block', { reason: 'chargeback' }, 1);
  expect(risk).toMatchObject({ outcome: 'ACCEPTED', versionAfter: 3, conflictingVersion: 2 });
  expect(risk.reason).toBe('priority: risk outranks pricing');
  const support = await ask('support', 'order', order, 'discount', { discountPercent: 5 }, 1);
  expect(support).toMatchObject({
    outcome: 'REJECTED',
    reason: 'stale: expected version 1, the order is at version 3',
  });
});

test('a compensation must name a real accepted decision on the entity', async () => {
  const customer = uniqueName('c');
  const first = await ask('support', 'customer', customer, 'note', { vip: true }, 0);
  expect(first.outcome).toBe('ACCEPTED');
  const { rows } = await admin.query<{ decision_id: string }>(
    'select decision_id from customer_decisions where proposal_id = $1',
    [first.proposalId],
  );
  const real = rows[0]!.decision_id;
  expect(
    await ask('support', 'customer', customer, 'undo', { vip: false, undo: 'nonsense' }, 1),
  ).toMatchObject({
    outcome: 'REJECTED',
    reason: `compensates decision nonsense, which is no accepted decision on customer ${customer}`,
  });
  expect(await ask('support', 'customer', customer, 'undo', { vip: false, undo: real }, 1)).toMatchObject({
    outcome: 'ACCEPTED',
    reason: `compensates decision ${real}`,
    versionAfter: 2,
  });
});

test("an owner's role advances only the checkpoints of its own groups", async () => {
  const asOwner = createPgPool(db.url('accord_owner_order'), { max: 1 });
  try {
    await expect(
      asOwner.query(
        `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset)
         values ('x', 'someone-else', 't', 0, '0', 0)`,
      ),
    ).rejects.toMatchObject({ code: '42501' });
    const other = await asOwner.query(
      'update pipeline_checkpoints set updated_at = now() where consumer_group = $1',
      [groups.customer],
    );
    expect(other.rowCount).toBe(0);
    const own = await asOwner.query(
      'update pipeline_checkpoints set updated_at = now() where consumer_group = $1',
      [groups.order],
    );
    expect(own.rowCount).toBeGreaterThan(0);
  } finally {
    await asOwner.end();
  }
});
