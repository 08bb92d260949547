import { createServer, type Server } from 'node:net';
import { resolveConfig } from '@accord/sdk';
import { checkKafka, checkPostgres, checkRedis, checkSchemaRegistry } from '@accord/sdk/ops';

jest.setTimeout(30000);

const config = resolveConfig();
let closedPort: number;
let server: Server;

beforeAll(async () => {
  // A port with nothing listening: bind, read the number, close.
  server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closedPort = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
});

test('the real stack is healthy', async () => {
  await expect(checkKafka(config)).resolves.toMatchObject({
    ok: true,
    detail: expect.stringMatching(/^1 broker\(s\)/),
  });
  await expect(checkPostgres(config.postgres.url)).resolves.toMatchObject({
    ok: true,
    detail: expect.stringMatching(/^PostgreSQL \d+/),
  });
  await expect(checkRedis(config.redis.url)).resolves.toMatchObject({
    ok: true,
    detail: expect.stringMatching(/^Redis \d/),
  });
});

test('unreachable endpoints are reported unhealthy with the errno code, without throwing', async () => {
  const down = resolveConfig({
    kafkaBrokers: [`127.0.0.1:${closedPort}`],
    databaseUrl: `postgres://postgres@127.0.0.1:${closedPort}/accord`,
    redisUrl: `redis://127.0.0.1:${closedPort}`,
    schemaRegistryUrl: `http://127.0.0.1:${closedPort}`,
  });
  const [kafka, pg, redis, registry] = await Promise.all([
    checkKafka(down),
    checkPostgres(down.postgres.url),
    checkRedis(down.redis.url),
    checkSchemaRegistry(down.schemaRegistry.url),
  ]);
  expect(kafka).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
  expect(pg).toMatchObject({ ok: false, errorCode: 'ECONNREFUSED' });
  expect(redis).toMatchObject({ ok: false, errorCode: 'ECONNREFUSED' });
  expect(registry).toMatchObject({ ok: false, errorCode: 'ECONNREFUSED' });
});
