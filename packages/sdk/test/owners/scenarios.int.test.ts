/**
 * The three failures Accord exists to prevent, on the real stack, each refused with its reason in the audit:
 * a discount on an item that is not available, a block on an order that already shipped (and shipping a
 * blocked order), a refund promise billing cannot honour. Plus contracts through both paths, agent roles,
 * commuting merges and resolution helpers.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REFERENCE_PRIORITY, referenceCatalog } from '@accord/reference';
import {
  addAgentRole,
  awaitDecision,
  ContractStore,
  commutes,
  createPgPool,
  defineOwner,
  EventPublisher,
  grantCheckpointGroups,
  outranks,
  type Pipeline,
  propose,
  relayOutbox,
  resolveConfig,
  runGoldenCases,
  startOutboxRelay,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(180000);

const ROOT = join(__dirname, '../../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const asRole = (role: string) => db.url(role);
const groups = { order: uniqueName('t-order-owner'), payment: uniqueName('t-payment-owner') };
const admin = createPgPool(db.url(), { max: 4 });
const orderPool = createPgPool(asRole('accord_owner_order'), { max: 4 });
const paymentPool = createPgPool(asRole('accord_owner_payment'), { max: 4 });
const run = uniqueName('t');
const topic = (entity: string, kind: string) => `${run}.${entity}.${kind}`;
const owners: Pipeline[] = [];
const agents = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'agents',
  autoRegister: true,
});

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const kafka = await ctx.kafkaAdmin();
  const topics = ['order', 'payment'].flatMap((e) => [topic(e, 'proposals'), topic(e, 'events')]);
  await kafka.createTopics({
    waitForLeaders: true,
    topics: topics.map((t) => ({ topic: t, numPartitions: 3 })),
  });
  ctx.onCleanup(async () => {
    await kafka.deleteTopics({ topics });
  });
  // The inventory owner's earlier decisions: sku-free has stock, sku-gone is all reserved.
  await admin.query(
    `insert into stock_item_entities (entity_id, version, state) values
       ('sku-free', 3, '{"onHand": 5, "reserved": 2, "sellable": true}'), ('sku-gone', 7, '{"onHand": 4, "reserved": 4, "sellable": true}')`,
  );

  await grantCheckpointGroups(admin, 'accord_owner_order', [groups.order]);
  await grantCheckpointGroups(admin, 'accord_owner_payment', [groups.payment]);
  owners.push(
    defineOwner({
      entityType: 'order',
      topic: topic('order', 'proposals'),
      group: groups.order,
      config: resolveConfig({ databaseUrl: asRole('accord_owner_order') }),
      pool: orderPool,
      mergeCommuting: true,
      decide: async ({ proposal, current, tx }) => {
        const state = current.state;
        switch (proposal.action) {
          case 'approve_discount': {
            const sku = String(proposal.change.sku);
            const { rows } = await tx.query<{ ok: boolean }>(
              `select accord_contract('available_item', 2, jsonb_build_object('on_hand', state->'onHand', 'reserved', state->'reserved', 'sellable', state->'sellable')) as ok
                 from stock_item_entities where entity_id = $1`,
              [sku],
            );
            if (!rows[0]?.ok) {
              return {
                outcome: 'REJECTED',
                reason: `contract available_item@2 is false for ${sku}: the discount would be voided at fulfillment`,
                contractVersions: ['available_item@2'],
              };
            }
            return {
              outcome: 'ACCEPTED',
              state: { ...state, ...proposal.change },
              contractVersions: ['available_item@2'],
            };
          }
          case 'ship':
            if (state.blockedBy)
              return {
                outcome: 'REJECTED',
                reason: `the order is blocked by ${String(state.blockedBy)}: shipping refused`,
              };
            return { outcome: 'ACCEPTED', state: { ...state, status: 'shipped' } };
          case 'block':
            if (state.status === 'shipped') {
              return {
                outcome: 'ESCALATED',
                reason: `contradiction: ${proposal.agent} outranks fulfillment, but the order already shipped: a human decides (return or recall)`,
              };
            }
            return { outcome: 'ACCEPTED', state: { ...state, blockedBy: proposal.agent } };
          case 'unblock':
            return {
              outcome: 'ACCEPTED',
              state: { ...state, blockedBy: null },
              compensates: String(proposal.change.decision ?? ''),
            };
          default:
            return { outcome: 'ACCEPTED', state: { ...state, ...proposal.change } };
        }
      },
    }),
    defineOwner({
      entityType: 'payment',
      topic: topic('payment', 'proposals'),
      group: groups.payment,
      config: resolveConfig({ databaseUrl: asRole('accord_owner_payment') }),
      pool: paymentPool,
      decide: ({ proposal, current }) => {
        const captured = Number(current.state.capturedCents ?? 0);
        const refunded = Number(current.state.refundedCents ?? 0);
        const cents = Number(proposal.change.cents);
        if (proposal.action === 'capture')
          return { outcome: 'ACCEPTED', state: { ...current.state, capturedCents: captured + cents } };
        if (proposal.action === 'refund') {
          if (cents > captured - refunded) {
            return {
              outcome: 'REJECTED',
              reason: `refund of ${cents} exceeds the ${captured - refunded} captured and not yet refunded: billing could not honour it`,
            };
          }
          return { outcome: 'ACCEPTED', state: { ...current.state, refundedCents: refunded + cents } };
        }
        return { outcome: 'REJECTED', reason: `unknown action ${proposal.action}` };
      },
    }),
  );
  for (const o of owners) await o.start();
});

afterAll(async () => {
  for (const o of owners) await o.stop();
  await agents.close();
  await orderPool.end();
  await paymentPool.end();
  await admin.end();
  await ctx.cleanup();
});

const ask = async (
  entityType: string,
  entityId: string,
  action: string,
  change: Record<string, unknown>,
  agent: string,
  expectedVersion?: number,
) =>
  awaitDecision(
    admin,
    entityType,
    await propose(agents, entityType, entityId, action, change, {
      agent,
      topic: topic(entityType, 'proposals'),
      ...(expectedVersion === undefined ? {} : { expectedVersion }),
    }),
    30000,
  );

test('pricing cannot grant a discount fulfillment would void: the item is not available (contract available_item@2)', async () => {
  const refused = await ask('order', 'o-1', 'approve_discount', { percent: 20, sku: 'sku-gone' }, 'pricing');
  expect(refused).toMatchObject({
    outcome: 'REJECTED',
    reason: expect.stringContaining('contract available_item@2 is false for sku-gone'),
  });
  const granted = await ask('order', 'o-1', 'approve_discount', { percent: 20, sku: 'sku-free' }, 'pricing');
  expect(granted).toMatchObject({ outcome: 'ACCEPTED', versionAfter: 1 });
  const audit = await admin.query(
    `select outcome, contract_versions from order_decisions where entity_id = 'o-1' order by decided_at`,
  );
  expect(audit.rows).toEqual([
    { outcome: 'REJECTED', contract_versions: ['available_item@2'] },
    { outcome: 'ACCEPTED', contract_versions: ['available_item@2'] },
  ]);
});

test('risk cannot silently block an order that already shipped, and a blocked order does not ship', async () => {
  expect(await ask('order', 'o-2', 'ship', {}, 'fulfillment')).toMatchObject({ outcome: 'ACCEPTED' });
  const late = await ask('order', 'o-2', 'block', { why: 'fraud' }, 'risk');
  expect(late).toMatchObject({ outcome: 'ESCALATED', reason: expect.stringContaining('already shipped') });

  const blocked = await ask('order', 'o-3', 'block', { why: 'fraud' }, 'risk');
  expect(blocked).toMatchObject({ outcome: 'ACCEPTED' });
  expect(await ask('order', 'o-3', 'ship', {}, 'fulfillment')).toMatchObject({
    outcome: 'REJECTED',
    reason: 'the order is blocked by risk: shipping refused',
  });
  const { rows } = await admin.query(`select state from order_entities where entity_id = 'o-3'`);
  expect(rows[0]?.state).toEqual({ blockedBy: 'risk' });
  // A rollback is a decision too, and counted; it must name the real decision it undoes.
  const { rows: block } = await admin.query<{ decision_id: string }>(
    `select decision_id from order_decisions where entity_id = 'o-3' and action = 'block' and outcome = 'ACCEPTED'`,
  );
  const made = block[0]?.decision_id ?? 'none';
  expect(await ask('order', 'o-3', 'unblock', { decision: 'made-up' }, 'risk')).toMatchObject({
    outcome: 'REJECTED',
    reason: 'compensates decision made-up, which is no accepted decision on order o-3',
  });
  const undone = await ask('order', 'o-3', 'unblock', { decision: made }, 'risk');
  expect(undone).toMatchObject({ outcome: 'ACCEPTED', reason: `compensates decision ${made}` });
});

test('support cannot promise a refund billing never processes: only an accepted decision is a refund, and billing gets it as an event', async () => {
  const early = await ask('payment', 'p-1', 'refund', { cents: 500 }, 'support');
  expect(early).toMatchObject({
    outcome: 'REJECTED',
    reason: expect.stringContaining('exceeds the 0 captured'),
  });
  expect(await ask('payment', 'p-1', 'capture', { cents: 2000 }, 'billing')).toMatchObject({
    outcome: 'ACCEPTED',
  });
  expect(await ask('payment', 'p-1', 'refund', { cents: 500 }, 'support')).toMatchObject({
    outcome: 'ACCEPTED',
  });
  expect(await ask('payment', 'p-1', 'refund', { cents: 1600 }, 'support')).toMatchObject({
    outcome: 'REJECTED',
  });

  const relay = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'payment-owner',
    autoRegister: true,
  });
  const running = startOutboxRelay(paymentPool, relay, 'payment', {
    topic: topic('payment', 'events'),
    intervalMs: 50,
  });
  try {
    await eventually(() => running.published() === 4, { what: 'the relay publishing 4 decisions' });
  } finally {
    await running.stop();
    await relay.close();
  }
  expect(await relayOutbox(paymentPool, relay, 'payment')).toBe(0); // nothing left: each row once
  const billing = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  const decisions: Record<string, unknown>[] = [];
  await billing.connect();
  await billing.subscribe({ topic: topic('payment', 'events'), fromBeginning: true });
  await billing.run({
    eachMessage: async ({ message }) => void decisions.push((await relay.serde.decode(message.value!)).value),
  });
  await eventually(() => decisions.length === 4, { what: '4 decision events' });
  await billing.disconnect();
  const refunds = decisions.filter((d) => d.action === 'refund');
  expect(refunds.map((d) => d.outcome).sort()).toEqual(['ACCEPTED', 'REJECTED', 'REJECTED']);
});

test('a stale proposal that commutes with the changes since its version is merged; one that does not is refused', async () => {
  expect(await ask('order', 'o-4', 'note', { note: 'a' }, 'support', 0)).toMatchObject({
    outcome: 'ACCEPTED',
    versionAfter: 1,
  });
  const merged = await ask('order', 'o-4', 'gift', { giftWrap: true }, 'support', 0);
  expect(merged).toMatchObject({
    outcome: 'ACCEPTED',
    versionAfter: 2,
    reason: 'merged: commutes with the changes since version 0',
  });
  const refused = await ask('order', 'o-4', 'note', { note: 'b' }, 'pricing', 0);
  expect(refused).toMatchObject({
    outcome: 'REJECTED',
    conflictingVersion: 2,
    reason: expect.stringMatching(/^stale: expected version 0/),
  });
  // A version the entity never had (ahead of it, or negative) is refused, never merged: a lying proposal.
  for (const expected of [9, -1]) {
    expect(await ask('order', 'o-4', 'gift', { giftWrap: false }, 'support', expected)).toMatchObject({
      outcome: 'REJECTED',
      conflictingVersion: 2,
      versionAfter: null,
      reason: `invalid expected version ${expected}: the order is at version 2 and never had that one`,
    });
  }
  expect(commutes({ a: 1 }, ['b'])).toBe(true);
  expect(outranks('risk', 'pricing', REFERENCE_PRIORITY)).toBe(true);
  expect(outranks('support', 'fulfillment', REFERENCE_PRIORITY)).toBe(false);
});

test('every golden case gives the same answer through the SDK and through SQL; versions are pinned', async () => {
  const results = await runGoldenCases(admin);
  expect(results.length).toBeGreaterThanOrEqual(10);
  for (const r of results) expect(r).toMatchObject({ ok: true, sdk: r.expected, sql: r.expected });
  const store = new ContractStore(admin);
  const input = { on_hand: 3, reserved: 3, sellable: true };
  expect(await store.holds('available_item@1', input)).toBe(true);
  expect(await store.holds('available_item@2', input)).toBe(false);
  await expect(store.holds('available_item', input)).rejects.toThrow(/must look like available_item@2/);
  const cli = await new Promise<{ code: number; stdout: string }>((done) =>
    execFile(
      'bash',
      [join(ROOT, 'scripts/accord'), 'contracts', 'test'],
      { env: { ...process.env, DATABASE_URL: db.url() } },
      (error, stdout) => done({ code: error ? 1 : 0, stdout }),
    ),
  );
  expect(cli.code).toBe(0);
  expect(cli.stdout).toMatch(/\d+ golden case\(s\) agree in the SDK and in SQL/);
});

test('a migration role owns every table, view and function; no service role owns anything', async () => {
  const { rows } = await admin.query<{ owner: string; n: string }>(
    `select pg_get_userbyid(c.relowner) as owner, count(*) as n from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
      where ns.nspname = current_schema() and c.relkind in ('r', 'p', 'v') and c.relname <> 'accord_schema_migrations' group by 1`,
  );
  expect(rows).toEqual([{ owner: 'accord_migrator', n: expect.any(String) }]);
  const { rows: roles } = await admin.query(
    `select rolname from pg_roles where (rolname like 'accord\\_owner\\_%' or rolname in ('accord_registry', 'accord_archive', 'accord_features'))
        and (rolsuper or rolbypassrls or rolcreaterole or rolcreatedb)`,
  );
  expect(roles).toEqual([]);
});

test("an agent's role reads everything and writes no owned table", async () => {
  const name = `t${Date.now().toString(36)}`;
  const global = createPgPool(config.postgres.url, { max: 1 });
  try {
    expect(await addAgentRole(global, name)).toEqual({ role: `accord_agent_${name}`, created: true });
    expect(await addAgentRole(global, name)).toEqual({ role: `accord_agent_${name}`, created: false });
    const agent = createPgPool(asRole(`accord_agent_${name}`), { max: 1 });
    try {
      for (const entity of ['customer', 'order', 'payment', 'stock_item']) {
        for (const kind of ['entities', 'proposals', 'decisions', 'outbox']) {
          const t = `"${entity}_${kind}"`;
          await expect(agent.query(`insert into ${t} (entity_id) values ('x')`)).rejects.toMatchObject({
            code: '42501',
          });
          await expect(agent.query(`update ${t} set entity_id = entity_id`)).rejects.toMatchObject({
            code: '42501',
          });
          await expect(agent.query(`delete from ${t}`)).rejects.toMatchObject({ code: '42501' });
        }
        await expect(agent.query(`select count(*) from "${entity}_entities"`)).resolves.toMatchObject({
          rows: [{ count: expect.stringMatching(/^\d+$/) }],
        });
      }
      await expect(
        agent.query(`select accord_contract('high_risk_customer', 1, '{"risk_score": 0.9}')`),
      ).resolves.toMatchObject({ rows: [{ accord_contract: true }] });
    } finally {
      await agent.end();
    }
  } finally {
    await global.query('delete from checkpoint_grants where role_name = $1', [`accord_agent_${name}`]);
    await global.query(`drop role if exists "accord_agent_${name}"`);
    await global.end();
  }
});
