/**
 * Who may write what, on the real stack (docs/security.md): the broker authenticates every client
 * (SASL/SCRAM) and authorizes by ACLs that follow ownership; an owner checks who proposed and refuses, and
 * audits, a proposal in another agent's name.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  createKafka,
  createPgPool,
  defineOwner,
  EventPublisher,
  grantCheckpointGroups,
  loadSigningKey,
  type Pipeline,
  propose,
  registerAgentKey,
  resolveConfig,
} from '@accord/sdk';
import { agentAccess, provisionPrincipal, removePrincipal } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const ownerPool = createPgPool(db.url('accord_owner_order'), { max: 2 });
// The test's principals keep their secrets in a directory of its own, removed afterwards.
const secrets = mkdtempSync(join(tmpdir(), 'accord-secrets-'));
const env = { ...process.env, ACCORD_SECRETS_DIR: secrets };
const run = uniqueName('t');
const topics = {
  orderEvents: `${run}.commerce.order.events`,
  orderProposals: `${run}.commerce.order.proposals`,
  customerEvents: `${run}.commerce.customer.events`,
};
const principals: string[] = [];
let owner: Pipeline | undefined;

/** A Kafka client that logs in as `username`. */
const as = (username: string, password: string, retries?: number) =>
  createKafka(
    resolveConfig({ kafkaSasl: { mechanism: 'scram-sha-512', username, password } }),
    retries === undefined ? {} : { retry: { retries } },
  );

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const kafkaAdmin = await ctx.kafkaAdmin();
  await kafkaAdmin.createTopics({
    waitForLeaders: true,
    topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 1 })),
  });
  ctx.onCleanup(async () => {
    await kafkaAdmin.deleteTopics({ topics: Object.values(topics) });
    for (const p of principals) await removePrincipal(config, p);
  });
});

afterAll(async () => {
  await owner?.stop();
  await ownerPool.end();
  await admin.end();
  await ctx.cleanup();
  rmSync(secrets, { recursive: true, force: true });
});

test('a client without credentials, or with a wrong password, is refused', async () => {
  const anonymous = createKafka(resolveConfig({ kafkaSasl: false }), { retry: { retries: 0 } }).admin();
  await expect(anonymous.connect().then(() => anonymous.listTopics())).rejects.toThrow(/Closed connection/);
  await anonymous.disconnect().catch(() => {});
  const wrong = as('accord-admin', 'not-the-password', 0).admin();
  await expect(wrong.connect()).rejects.toThrow(/SASL SCRAM SHA512 authentication failed/);
  await wrong.disconnect().catch(() => {});
});

test("an agent principal proposes and reads what it declares, and nothing else: not an owner's events, not another group", async () => {
  const agent = `accord_agent_${uniqueName('t', '_').toLowerCase()}`;
  const group = uniqueName('t-agent');
  principals.push(agent);
  const { password } = await provisionPrincipal(
    config,
    agent,
    agentAccess({
      reads: [topics.orderEvents],
      proposals: [topics.orderProposals],
      emits: [],
      groups: [group],
    }),
    env,
  );
  const kafka = as(agent, password);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const sent = await producer.send({ topic: topics.orderProposals, messages: [{ key: 'o1', value: 'p' }] });
    expect(sent[0]?.errorCode).toBe(0);
    for (const topic of [topics.orderEvents, topics.customerEvents])
      await expect(producer.send({ topic, messages: [{ key: 'o1', value: 'forged' }] })).rejects.toThrow(
        /Not authorized to access topics/,
      );
  } finally {
    await producer.disconnect();
  }
  const agentAdmin = kafka.admin();
  await agentAdmin.connect();
  try {
    // It sees the topics it reads or writes, and no other.
    expect((await agentAdmin.listTopics()).filter((t) => t.startsWith(run)).sort()).toEqual(
      [topics.orderEvents, topics.orderProposals].sort(),
    );
    expect(await agentAdmin.fetchOffsets({ groupId: group, topics: [topics.orderEvents] })).toEqual([
      { topic: topics.orderEvents, partitions: [{ partition: 0, offset: '-1', metadata: null }] },
    ]);
    // Another group: refused (kafkajs reports FindCoordinator's GROUP_AUTHORIZATION_FAILED as no coordinator;
    // the same call for its own group above found one on the same single broker).
    await expect(
      agentAdmin.fetchOffsets({ groupId: uniqueName('t-other'), topics: [topics.orderEvents] }),
    ).rejects.toThrow(/Failed to find group coordinator/);
  } finally {
    await agentAdmin.disconnect();
  }
});

test("an owner principal alone writes its entity's events: not another entity's", async () => {
  const principal = `accord_owner_${uniqueName('t', '_').toLowerCase()}`;
  principals.push(principal);
  const { password } = await provisionPrincipal(
    config,
    principal,
    { read: [topics.orderProposals], write: [topics.orderEvents], groups: [uniqueName('t-owner')] },
    env,
  );
  const producer = as(principal, password).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const sent = await producer.send({ topic: topics.orderEvents, messages: [{ key: 'o1', value: 'e' }] });
    expect(sent[0]?.errorCode).toBe(0);
    await expect(
      producer.send({ topic: topics.customerEvents, messages: [{ key: 'c1', value: 'e' }] }),
    ).rejects.toThrow(/Not authorized to access topics/);
  } finally {
    await producer.disconnect();
  }
});

test('a proposal in a registered agent’s name without its signature is refused, and audited', async () => {
  await registerAgentKey(admin, 'alpha', { env });
  const alphaKey = loadSigningKey('alpha', env);
  expect(alphaKey?.asymmetricKeyType).toBe('ed25519');
  const impostor = generateKeyPairSync('ed25519').privateKey;
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'security-test',
    autoRegister: true,
  });
  const sent: Record<string, string> = {};
  try {
    const send = (name: string, agent: string, signingKey?: typeof impostor) =>
      propose(
        publisher,
        'order',
        `o-${name}`,
        'set_note',
        { note: name },
        {
          agent,
          topic: topics.orderProposals,
          ...(signingKey ? { signingKey } : {}),
        },
      ).then((id) => {
        sent[name] = id;
      });
    await send('signed', 'alpha', alphaKey);
    await send('impostor', 'alpha', impostor);
    await send('unsigned', 'alpha');
    await send('unregistered', 'beta');
    await send('claims-a-key', 'gamma', impostor);
  } finally {
    await publisher.close();
  }
  const group = uniqueName('t-owner');
  await grantCheckpointGroups(admin, 'accord_owner_order', [group]);
  owner = defineOwner({
    entityType: 'order',
    topic: topics.orderProposals,
    group,
    config: resolveConfig({ databaseUrl: db.url('accord_owner_order') }),
    pool: ownerPool,
    decide: ({ proposal, current }) => ({
      outcome: 'ACCEPTED',
      state: { ...current.state, ...proposal.change },
    }),
  });
  await owner.start();
  const decisions = await eventually(
    async () => {
      const { rows } = await admin.query<{
        proposal_id: string;
        agent: string;
        outcome: string;
        reason: string | null;
      }>('select proposal_id, agent, outcome, reason from order_decisions');
      return rows.length === 5 ? rows : undefined;
    },
    { timeoutMs: 60000, what: 'five decisions' },
  );
  const of = (name: string) => decisions.find((d) => d.proposal_id === sent[name]);
  expect(of('signed')).toMatchObject({ agent: 'alpha', outcome: 'ACCEPTED' });
  expect(of('impostor')).toMatchObject({
    outcome: 'REJECTED',
    reason: "forged proposer: the signature is not alpha's",
  });
  expect(of('unsigned')).toMatchObject({
    outcome: 'REJECTED',
    reason: 'forged proposer: no signature from alpha',
  });
  // An agent nobody registered is judged as before (the owner can require signatures: proposers: 'required').
  expect(of('unregistered')).toMatchObject({ agent: 'beta', outcome: 'ACCEPTED' });
  expect(of('claims-a-key')).toMatchObject({
    outcome: 'REJECTED',
    reason: 'forged proposer: signed as gamma, which has no registered key',
  });
  // Audited: every proposal, refused or not, is in the proposals table with the name it claimed.
  const { rows } = await admin.query<{ n: string }>(
    `select count(*) as n from order_proposals where proposal_id = any($1)`,
    [Object.values(sent)],
  );
  expect(Number(rows[0]?.n)).toBe(5);
  // The owner's role reads the keys and cannot register one.
  const asOwner = createPgPool(db.url('accord_owner_order'), { max: 1 });
  try {
    await expect(
      asOwner.query(`insert into agent_keys (agent, public_key) values ('mallory', 'x')`),
    ).rejects.toMatchObject({ code: '42501' });
  } finally {
    await asOwner.end();
  }
});

test('the archive, features and log roles advance only their own groups’ checkpoints; everyone reads positions', async () => {
  const insert = (group: string) =>
    admin.query(
      `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset)
       values ('x', $1, 't', 0, '0', 0)`,
      [group],
    );
  await insert('owner-order');
  await insert('ops-archive-2');
  const asArchive = createPgPool(db.url('accord_archive'), { max: 1 });
  try {
    const move = (group: string) =>
      asArchive.query('update pipeline_checkpoints set kafka_offset = 7 where consumer_group = $1', [group]);
    expect((await move('owner-order')).rowCount).toBe(0); // invisible to its writes
    expect((await move('ops-archive-2')).rowCount).toBe(1); // an archive group: its own
    await expect(
      asArchive.query(
        `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset)
         values ('x', 'agent-risk', 't', 1, '0', 0)`,
      ),
    ).rejects.toMatchObject({ code: '42501' });
    const { rows } = await asArchive.query<{ n: string }>('select count(*) as n from pipeline_checkpoints');
    expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(2);
  } finally {
    await asArchive.end();
  }
  const { rows } = await admin.query<{ consumer_group: string; kafka_offset: string }>(
    `select consumer_group, kafka_offset from pipeline_checkpoints where consumer_group in ('owner-order', 'ops-archive-2') order by 1`,
  );
  expect(rows).toEqual([
    { consumer_group: 'ops-archive-2', kafka_offset: '7' },
    { consumer_group: 'owner-order', kafka_offset: '0' },
  ]);
});
