/**
 * Bad input on a real three-broker cluster, with an auditor that accounts for every piece of it.
 * - Records a raw producer writes into a topic the archive consumes: a wrong magic byte, an unknown schema
 *   id, a truncated body, a body that does not decode, a valid record that is no Accord event, exact
 *   duplicates, and event fields carrying SQL. Each bad one must be in the archive's dead-letter topic with
 *   its source and reason, each good one archived once (verbatim), the checkpoint at the log end.
 * - Proposals to an owner service: expected versions that lie (ahead of the entity, negative), that are
 *   stale or missing, a re-sent proposal, a re-used idempotency key, a change that is not JSON. Each must be
 *   decided once with its reason (or dead-lettered), and only accepted ones change the entity.
 * - SQL through registry subjects and fuzzed `accord` arguments (fast-check): never a crash (`INTERNAL`),
 *   never a changed table.
 * - An agent's credentials against what it does not own: the brokers refuse its write to an owner's
 *   events topic; the owner refuses its proposal in another (registered) agent's name, and audits it.
 * ACCORD_FAULTS=full fuzzes the CLI with many more runs.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  AvroSerde,
  awaitDecision,
  createPgPool,
  EventPublisher,
  grantCheckpointGroups,
  MAGIC_BYTE,
  propose,
  registerAgentKey,
  resolveConfig,
} from '@accord/sdk';
import { agentAccess, provisionPrincipal } from '@accord/sdk/ops';
import { eventually, uniqueName } from '@accord/testing';
import fc from 'fast-check';
import { checkpointsCommand, lagCommand } from '../../packages/cli/src/commands/checkpoints';
import { dlqCommand } from '../../packages/cli/src/commands/dlq';
import { escalationsCommand } from '../../packages/cli/src/commands/escalations';
import { eventsCommand } from '../../packages/cli/src/commands/events';
import { traceCommand } from '../../packages/cli/src/commands/trace';
import { main } from '../../packages/cli/src/main';
import { startService } from '../e2e/cli';
import { readRecords } from './audit';
import { faultSuite, ROOT } from './cluster';

const FULL = process.env.ACCORD_FAULTS === 'full';
const CLI_RUNS = FULL ? 2000 : 60;
jest.setTimeout(FULL ? 1_800_000 : 300_000);

const INJECTIONS = [
  "x'); drop table event_archive; --",
  "' or '1'='1",
  'a"; delete from pipeline_checkpoints; --',
  '1; select pg_sleep(10)',
  "order'||(select current_user)||'",
  '$1',
  '\\x00',
];

const { cluster, ctx, stops } = faultSuite();

test('bad records at a checkpointed pipeline: each dead-lettered with its reason, each good one archived once, verbatim', async () => {
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = uniqueName('t-archive');
  const env = {
    ...cluster.env,
    ARCHIVE_DATABASE_URL: db.url('accord_archive'),
    DATABASE_URL: db.url(),
    ACCORD_LOG_LEVEL: 'info', // its "running" line
  };
  await startService(
    'services/archive/dist/main.js',
    ['--group', group, '--topics', `^${topic}$`],
    env,
    stops,
  );
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: cluster.config,
    producer: 'faults',
    autoRegister: true,
  });
  const serde = new AvroSerde({ registryUrl: cluster.config.schemaRegistry.url, autoRegister: true });
  const producer = ctx.kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    // Good events, two of them carrying SQL in their fields.
    const good = await publisher.publishMany(
      ['plain', ...INJECTIONS.slice(0, 2)].map((approvedBy, i) => ({
        type: 'DiscountApproved' as const,
        data: { orderId: `o-${i}`, percent: 1, approvedBy },
        options: { entityId: `o-${i}`, topic },
      })),
    );
    const encoded = await publisher.prepare(
      'DiscountApproved',
      { orderId: 'o-dup', percent: 2, approvedBy: 'dup' },
      { entityId: 'o-dup', topic },
    );
    const header = Buffer.alloc(5);
    header.writeUInt8(MAGIC_BYTE, 0);
    header.writeUInt32BE(encoded.event.schemaId, 1);
    // A valid record of a registered schema that is no Accord event (a dead letter has no envelope).
    const notAnEvent = await serde.encode('accord.platform.DeadLetter', {
      pipeline: 'x',
      consumerGroup: 'x',
      topic: 'x',
      partition: 0,
      offset: 0,
      key: null,
      value: null,
      headers: {},
      errorCode: 'x',
      errorMessage: 'x',
      attempts: 1,
      failedAt: Date.now(),
    });
    const unknownId = Buffer.alloc(5);
    unknownId.writeUInt8(MAGIC_BYTE, 0);
    unknownId.writeUInt32BE(987654, 1);
    const value = encoded.message.value as Buffer;
    const bad: { kind: string; value: Buffer; code: string }[] = [
      {
        kind: 'wrong magic byte',
        value: Buffer.from('{"json": "not the wire format"}'),
        code: 'WIRE_FORMAT_INVALID',
      },
      {
        kind: 'unknown schema id',
        value: Buffer.concat([unknownId, value.subarray(5)]),
        code: 'SCHEMA_NOT_FOUND',
      },
      {
        kind: 'truncated body',
        value: value.subarray(0, Math.floor(value.length / 2)),
        code: 'DECODE_FAILED',
      },
      {
        kind: 'body that does not decode',
        value: Buffer.concat([header, Buffer.from([0xff, 0xff, 0xff])]),
        code: 'DECODE_FAILED',
      },
      { kind: 'no Accord event', value: notAnEvent.buffer, code: 'PIPELINE_HANDLER_FAILED' },
      { kind: 'empty record', value: Buffer.alloc(0), code: 'WIRE_FORMAT_INVALID' },
    ];
    const sentAt = new Map<string, string>(); // offset → kind
    for (const b of bad) {
      const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: 'bad', value: b.value }] });
      sentAt.set(meta?.baseOffset as string, b.kind);
    }
    // The same event three times (a redelivering producer): archived once.
    for (let i = 0; i < 3; i++) await producer.send({ topic, acks: -1, messages: [encoded.message] });

    const [end] = await ctx.kafkaAdmin().then((a) => a.fetchTopicOffsets(topic));
    await eventually(
      async () => {
        const { rows } = await admin.query<{ kafka_offset: string }>(
          'select kafka_offset from pipeline_checkpoints where consumer_group = $1',
          [group],
        );
        return rows[0]?.kafka_offset === end?.high;
      },
      { timeoutMs: 120000, what: `the archive's checkpoint at the log end ${end?.high}` },
    );

    // The auditor: every bad record in the dead-letter topic once, with its source and reason.
    const letters = await readRecords(ctx, `${group}.dlq`);
    const bySource = new Map<string, string[]>();
    for (const l of letters) {
      const source = l.headers['accord-dlq-source'] as string;
      bySource.set(source, [...(bySource.get(source) ?? []), l.headers['accord-dlq-error-code'] as string]);
    }
    for (const b of bad) {
      const offset = [...sentAt].find(([, kind]) => kind === b.kind)?.[0];
      expect({ kind: b.kind, codes: bySource.get(`${topic}/0/${offset}`) }).toEqual({
        kind: b.kind,
        codes: [b.code],
      });
    }
    expect(letters).toHaveLength(bad.length);
    // Every good event archived once, its fields verbatim (SQL included); the duplicate once.
    const { rows } = await admin.query<{ event_id: string; by: string; n: number }>(
      `select event_id, payload->>'approvedBy' as by, count(*)::int as n from event_archive where topic = $1 group by 1, 2`,
      [topic],
    );
    const archived = new Map(rows.map((r) => [r.event_id, r]));
    for (const [i, g] of good.entries())
      expect(archived.get(g.eventId)).toEqual({
        event_id: g.eventId,
        by: ['plain', ...INJECTIONS.slice(0, 2)][i],
        n: 1,
      });
    expect(archived.get(encoded.event.eventId)?.n).toBe(1);
    expect(rows).toHaveLength(good.length + 1);
  } finally {
    await producer.disconnect();
    await publisher.close();
    await admin.end();
  }
});

test('lying, stale, missing and re-used proposals at an owner service: each decided once with its reason, only accepted ones applied', async () => {
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const proposals = await ctx.createTopic({ partitions: 2 });
  const events = await ctx.createTopic({ partitions: 2 });
  const group = uniqueName('t-owner-order');
  await grantCheckpointGroups(admin, 'accord_owner_order', [group]);
  const env = { ...cluster.env, DATABASE_URL: db.url(), ACCORD_LOG_LEVEL: 'info' };
  await startService(
    'services/owners/dist/main.js',
    ['--entity', 'order', '--topic', proposals, '--events-topic', events, '--group', group],
    env,
    stops,
  );
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: cluster.config,
    producer: 'faults',
    autoRegister: true,
  });
  const ask = async (
    change: Record<string, unknown>,
    action: string,
    options: { expectedVersion?: number | null; proposalId?: string; idempotencyKey?: string } = {},
  ) =>
    awaitDecision(
      admin,
      'order',
      await propose(publisher, 'order', 'o-1', action, change, {
        agent: 'faults',
        topic: proposals,
        ...options,
      }),
      60000,
    );
  try {
    expect(await ask({ total: 10 }, 'place', { expectedVersion: 0 })).toMatchObject({
      outcome: 'ACCEPTED',
      versionAfter: 1,
    });
    expect(await ask({ discountPercent: 5 }, 'discount', { expectedVersion: 7 })).toMatchObject({
      outcome: 'REJECTED',
      conflictingVersion: 1,
      reason: 'invalid expected version 7: the order is at version 1 and never had that one',
    });
    expect(await ask({ discountPercent: 5 }, 'discount', { expectedVersion: -3 })).toMatchObject({
      outcome: 'REJECTED',
      reason: expect.stringMatching(/^invalid expected version -3/),
    });
    expect(
      await ask({ discountPercent: 5 }, 'discount', { expectedVersion: 1, idempotencyKey: 'k-1' }),
    ).toMatchObject({
      outcome: 'ACCEPTED',
      versionAfter: 2,
    });
    expect(await ask({ discountPercent: 6 }, 'discount', { expectedVersion: 1 })).toMatchObject({
      outcome: 'REJECTED',
      conflictingVersion: 2,
      reason: expect.stringMatching(/^stale: expected version 1, the order is at version 2/),
    });
    // No expected version: no optimistic check, judged on the current state by the rules.
    expect(await ask({ discountPercent: 4 }, 'discount', { expectedVersion: null })).toMatchObject({
      outcome: 'ACCEPTED',
      versionAfter: 3,
    });
    // The same idempotency key under a new proposal id: refused as a duplicate, nothing applied.
    expect(
      await ask({ discountPercent: 9 }, 'discount', { expectedVersion: 3, idempotencyKey: 'k-1' }),
    ).toMatchObject({
      outcome: 'REJECTED',
      reason: expect.stringMatching(/^duplicate: idempotency key k-1/),
    });
    // The same proposal re-sent: one decision, the first.
    const resent = await ask({ discountPercent: 3 }, 'discount', {
      expectedVersion: 3,
      proposalId: 'p-resent',
    });
    const again = await ask({ discountPercent: 3 }, 'discount', {
      expectedVersion: 3,
      proposalId: 'p-resent',
    });
    expect(again).toEqual(resent);
    // A change that is not JSON: not decidable, dead-lettered with its reason.
    await publisher.publish(
      'accord.platform.ChangeProposal',
      {
        proposalId: 'p-not-json',
        agent: 'faults',
        action: 'discount',
        changeJson: '{"discountPercent": ',
        expectedVersion: null,
        idempotencyKey: 'p-not-json',
        reason: null,
        contextJson: null,
      },
      { entityId: 'o-1', entityType: 'order', topic: proposals },
    );
    const letters = await eventually(
      async () => {
        const found = await readRecords(ctx, `${group}.dlq`).catch(() => []);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 60000, what: "the proposal that is not JSON in the owner's dead-letter topic" },
    );
    expect(letters.map((l) => l.headers['accord-dlq-error-code'])).toEqual(['PIPELINE_HANDLER_FAILED']);
    // The auditor: one decision per proposal; the entity's version is the number of accepted ones.
    const { rows: decisions } = await admin.query<{ outcome: string; n: number }>(
      `select outcome, count(*)::int as n from order_decisions where entity_id = 'o-1' group by 1 order by 1`,
    );
    expect(decisions).toEqual([
      { outcome: 'ACCEPTED', n: 4 },
      { outcome: 'REJECTED', n: 4 },
    ]);
    const { rows: entity } = await admin.query<{ version: string }>(
      `select version from order_entities where entity_id = 'o-1'`,
    );
    expect(entity[0]?.version).toBe('4');
  } finally {
    await publisher.close();
    await admin.end();
  }
});

test('SQL through registry subjects and fuzzed CLI arguments: never a crash, never a changed table', async () => {
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const tables = async () =>
    (
      await admin.query<{ n: number }>(
        `select count(*)::int as n from information_schema.tables where table_schema = $1`,
        [db.schema],
      )
    ).rows[0]?.n;
  const before = await tables();
  const registry = cluster.config.schemaRegistry.url;
  const schema = JSON.stringify({ type: 'record', name: 'Probe', fields: [{ name: 'a', type: 'string' }] });
  try {
    // Registry subjects carrying SQL: stored and listed literally, or refused with a Confluent error.
    for (const subject of INJECTIONS) {
      const path = `${registry}/subjects/${encodeURIComponent(subject)}/versions`;
      const answer = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema }),
      });
      const body = (await answer.json()) as { id?: number; error_code?: number };
      expect({ subject, ok: answer.status === 200 ? typeof body.id : typeof body.error_code }).toEqual({
        subject,
        ok: 'number',
      });
      if (answer.status === 200) {
        const listed = (await (await fetch(`${registry}/subjects`)).json()) as string[];
        expect(listed).toContain(subject);
      }
    }

    // The CLI, in process, with the cluster's environment: read-only commands, fuzzed arguments.
    const saved = { ...process.env };
    Object.assign(process.env, cluster.env, { DATABASE_URL: db.url(), ACCORD_LOG_LEVEL: 'error' });
    const text = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(...INJECTIONS),
      fc.constantFrom('', '-1', 'NaN', '1e309', '2026-13-45T25:61:00Z'),
    );
    const commands = [
      checkpointsCommand,
      lagCommand,
      dlqCommand,
      escalationsCommand,
      eventsCommand,
      traceCommand,
    ];
    const destructive = new Set(['rebind', 'replay', 'discard', 'resolve']);
    const argv = fc
      .record({
        command: fc.constantFrom(...commands),
        positionals: fc.array(text, { maxLength: 3 }),
        options: fc.array(fc.tuple(fc.string({ maxLength: 12 }), text), { maxLength: 3 }),
        extra: fc.array(text, { maxLength: 2 }),
        json: fc.boolean(),
      })
      .map(({ command, positionals, options, extra, json }) => {
        const names = Object.keys(command.options);
        const head = command.name === 'dlq' || command.name === 'escalations' ? ['list'] : [];
        const args = [command.name, ...head, ...positionals.filter((p) => !destructive.has(p))];
        for (const [name, value] of options) {
          const known = names[Math.abs(name.length) % names.length] as string;
          const spec = command.options[known] as { type: string };
          if (spec.type === 'string') args.push(`--${known}`, value);
          else if (!['accept', 'reject'].includes(known)) args.push(`--${known}`);
        }
        if (json) args.push('--json');
        return [...args, ...extra.filter((p) => !destructive.has(p))];
      });
    const outcomes = new Map<string, number>();
    const write = { out: process.stdout.write, err: process.stderr.write };
    try {
      await fc.assert(
        fc.asyncProperty(argv, async (args) => {
          let stderr = '';
          process.stdout.write = (() => true) as typeof process.stdout.write;
          process.stderr.write = ((chunk: string | Uint8Array) => {
            stderr += chunk.toString();
            return true;
          }) as typeof process.stderr.write;
          let code: number;
          try {
            code = await main(args);
          } finally {
            process.stdout.write = write.out;
            process.stderr.write = write.err;
          }
          const errorCode = /\[([A-Z_]+)\]\s*$/.exec(stderr.trim())?.[1] ?? (code === 0 ? 'ok' : 'none');
          outcomes.set(`${code} ${errorCode}`, (outcomes.get(`${code} ${errorCode}`) ?? 0) + 1);
          // Refused or answered, never a crash: exit 0, 1 or 2 with an Accord error code, never INTERNAL.
          expect({ args, code: [0, 1, 2].includes(code), internal: errorCode === 'INTERNAL' }).toEqual({
            args,
            code: true,
            internal: false,
          });
        }),
        { numRuns: CLI_RUNS },
      );
    } finally {
      process.env = saved;
    }
    process.stderr.write(
      `[faults] accord fuzzed ${CLI_RUNS} times: ${JSON.stringify(Object.fromEntries(outcomes))}\n`,
    );
    expect(await tables()).toBe(before);
  } finally {
    await admin.end();
  }
});

test("an agent's credentials against what it does not own: the brokers refuse a write to the owner's topic, the owner a proposal in another agent's name", async () => {
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const proposals = await ctx.createTopic({ partitions: 1 });
  const events = await ctx.createTopic({ partitions: 1 });
  const group = uniqueName('t-owner-order');
  await grantCheckpointGroups(admin, 'accord_owner_order', [group]);
  const env = { ...cluster.env, DATABASE_URL: db.url(), ACCORD_LOG_LEVEL: 'info' };
  await startService(
    'services/owners/dist/main.js',
    ['--entity', 'order', '--topic', proposals, '--events-topic', events, '--group', group],
    env,
    stops,
  );
  // Mallory: an agent principal that may read the order events and propose, nothing else.
  const mallory = `accord_agent_${uniqueName('mallory', '_').toLowerCase()}`;
  const operatorEnv = { ...process.env, ...cluster.env };
  const { password } = await provisionPrincipal(
    cluster.config,
    mallory,
    agentAccess({ reads: [events], proposals: [proposals], emits: [], groups: [uniqueName('t-mallory')] }),
    operatorEnv,
  );
  const asMallory = resolveConfig(
    {},
    { ...operatorEnv, KAFKA_SASL_USERNAME: mallory, KAFKA_SASL_PASSWORD: password },
  );
  // The victim: a registered agent (its public key in agent_keys, as accord deploy does).
  await registerAgentKey(admin, 'fulfillment', { env: operatorEnv });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: asMallory,
    producer: 'mallory',
    autoRegister: true,
  });
  try {
    // A decision event of its own making, straight into the owner's events topic: the brokers refuse it.
    await expect(
      publisher.publish(
        'DiscountApproved',
        { orderId: 'o-1', percent: 90, approvedBy: 'mallory' },
        { entityId: 'o-1', topic: events },
      ),
    ).rejects.toMatchObject({
      code: 'KAFKA_NOT_AUTHORIZED',
      message: expect.stringContaining('TOPIC_AUTHORIZATION_FAILED'),
    });
    // A proposal it may send, in fulfillment's name and unsigned: the owner refuses it as forged, and audits it.
    const forged = await propose(
      publisher,
      'order',
      'o-1',
      'place',
      { total: 1 },
      { agent: 'fulfillment', topic: proposals },
    );
    expect(await awaitDecision(admin, 'order', forged, 60000)).toMatchObject({
      outcome: 'REJECTED',
      reason: expect.stringMatching(/^forged proposer: /),
    });
    // Its own name is fine (unregistered names are judged as before unless the owner requires signatures).
    const own = await propose(
      publisher,
      'order',
      'o-1',
      'place',
      { total: 1 },
      { agent: mallory, topic: proposals },
    );
    expect(await awaitDecision(admin, 'order', own, 60000)).toMatchObject({
      outcome: 'ACCEPTED',
      versionAfter: 1,
    });
    // Nothing reached the events topic but the owner's decisions (its outbox relay publishes them).
    const { rows } = await admin.query<{ n: number }>('select count(*)::int as n from order_decisions');
    await eventually(async () => (await readRecords(ctx, events)).length === rows[0]?.n, {
      timeoutMs: 60000,
      what: "the owner's decision events, and nothing else, in its events topic",
    });
    for (const r of await readRecords(ctx, events))
      expect(r.headers['accord-event-type']).toBe('accord.platform.Decision');
  } finally {
    await publisher.close();
    await admin.end();
  }
});
