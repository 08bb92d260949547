/**
 * The feature reader after Redis died and came back: its fail-fast client stops reconnecting after three
 * tries (~2 s), and a reader that never connected again refused every read for good (an agent then
 * retried its event forever: found by the Redis fault suite). On the real redis-server, a private one.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis, defineFeatureView, FeatureReader } from '@accord/sdk';
import { eventually } from '@accord/testing';

jest.setTimeout(60000);

const dir = mkdtempSync(join(tmpdir(), 'accord-reader-redis-'));
let port = 0;
let server: ChildProcess | undefined;
const ping = () => {
  try {
    return (
      execFileSync('redis-cli', ['-p', String(port), 'ping'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() === 'PONG'
    );
  } catch {
    return false;
  }
};
const startRedis = async () => {
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  await eventually(ping, { what: `redis-server on ${port}`, timeoutMs: 20000, intervalMs: 100 });
};

beforeAll(async () => {
  port = await new Promise<number>((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as { port: number };
      s.close(() => done(p));
    });
  });
  await startRedis();
});

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('a reader whose client gave up while Redis was down reads again once Redis is back', async () => {
  const view = defineFeatureView({
    name: 'order_count',
    version: 1,
    entityType: 'customer',
    topics: ['t'],
    entityId: (e) => String(e.key),
    aggregation: 'count',
  });
  // The reader's own client, as agents get it (fail fast), on the private Redis.
  const reader = new FeatureReader({
    views: [view],
    prefix: 'reconnect:',
    redis: createRedis(`redis://127.0.0.1:${port}`, { failFast: true }),
  });
  try {
    // Nothing built on this Redis: the view is missing (not-built), which is an answer, not an outage.
    expect(await reader.get('customer', 'c-1', ['order_count'])).toEqual({
      order_count: { missing: true, reason: 'not-built' },
    });
    const gone = once(server as ChildProcess, 'exit');
    server?.kill('SIGKILL');
    await gone;
    // Down: reads fail at once, and the client gives up reconnecting.
    await expect(reader.get('customer', 'c-1', ['order_count'])).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
    });
    await eventually(() => reader.redis.status === 'end', {
      what: () => `client status end, is ${reader.redis.status}`,
      timeoutMs: 20000,
    });
    await startRedis();
    expect(await reader.get('customer', 'c-1', ['order_count'])).toEqual({
      order_count: { missing: true, reason: 'not-built' },
    });
  } finally {
    reader.close();
  }
});
