/**
 * `accord up | down | status` as processes, against the real stack. A second, private broker runs from
 * its own state dir and ports, so the shared broker the other tests use is never touched (and the test
 * checks it is still healthy after `down`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secretsDir } from '@accord/sdk';
import { accord, freePort, ROOT } from './cli';

jest.setTimeout(240000);

interface StatusRow {
  component: string;
  address: string;
  healthy: boolean;
  managedBy: string;
  pid?: number;
}

function parseStatus(stdout: string): Record<string, StatusRow> {
  return Object.fromEntries((JSON.parse(stdout) as StatusRow[]).map((r) => [r.component, r]));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const stateDirs: string[] = [];
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'accord-state-'));
  stateDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

test('--help on the command and on each stack command', async () => {
  const top = await accord(['--help']);
  expect(top.code).toBe(0);
  expect(top.stdout).toMatch(/up\s+start the local stack/);
  for (const name of ['up', 'down', 'status']) {
    const help = await accord([name, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: accord ${name}`));
  }
});

test('status --json reports every component of the shared stack healthy', async () => {
  const result = await accord(['status', '--json']);
  expect(result.code).toBe(0);
  const rows = parseStatus(result.stdout);
  expect(Object.keys(rows).sort()).toEqual(['kafka', 'postgres', 'redis', 'schema-registry']);
  for (const row of Object.values(rows)) expect(row.healthy).toBe(true);
});

test('up twice, status, down: a private broker and registry start once, report, stop, and nothing else stops', async () => {
  const env = {
    ACCORD_STATE_DIR: stateDir(),
    ACCORD_KAFKA_PORT: String(await freePort()),
    ACCORD_KAFKA_CONTROLLER_PORT: String(await freePort()),
    ACCORD_REGISTRY_PORT: String(await freePort()),
  };
  const registryUrl = `http://127.0.0.1:${env.ACCORD_REGISTRY_PORT}`;

  const first = await accord(['up'], env);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(
    new RegExp(`\\[up\\] kafka: ready on 127\\.0\\.0\\.1:${env.ACCORD_KAFKA_PORT}`),
  );
  expect(first.stdout).toMatch(/\[up\] postgres: reachable; database accord; migrations up to date/);
  expect(first.stdout).toMatch(new RegExp(`\\[up\\] schema-registry: ready on ${registryUrl}`));
  expect(first.stdout).toMatch(/\[up\] stack is up/);

  const status = await accord(['status', '--json'], env);
  expect(status.code).toBe(0);
  const rows = parseStatus(status.stdout);
  expect(rows.kafka).toMatchObject({
    healthy: true,
    managedBy: 'accord',
    address: `127.0.0.1:${env.ACCORD_KAFKA_PORT}`,
  });
  const pid = rows.kafka?.pid as number;
  expect(isRunning(pid)).toBe(true);
  // Postgres and Redis were already running: they are used, not managed.
  expect(rows.postgres).toMatchObject({ healthy: true, managedBy: 'external' });
  expect(rows.redis).toMatchObject({ healthy: true, managedBy: 'external' });
  expect(rows['schema-registry']).toMatchObject({ healthy: true, managedBy: 'accord', address: registryUrl });
  const registryPid = rows['schema-registry']?.pid as number;

  // Something to find again after a restart.
  const subject = `t-persist-${Date.now()}`;
  const schema = JSON.stringify({ type: 'record', name: 'Kept', fields: [{ name: 'x', type: 'int' }] });
  const registered = await fetch(`${registryUrl}/subjects/${subject}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema }),
  });
  const { id } = (await registered.json()) as { id: number };

  const second = await accord(['up'], env);
  expect(second.code).toBe(0);
  expect(second.stdout).toContain(`[up] kafka: already running (pid ${pid})`);
  expect(second.stdout).toContain(`[up] schema-registry: already running (pid ${registryPid})`);
  expect(second.stdout).not.toMatch(/formatted storage|starting broker|applied/);

  const table = await accord(['status'], env);
  expect(table.stdout).toMatch(
    new RegExp(`^kafka\\s+up\\s+127\\.0\\.0\\.1:${env.ACCORD_KAFKA_PORT}\\s+accord \\(pid ${pid}\\)`, 'm'),
  );

  const down = await accord(['down'], env);
  expect(down.code).toBe(0);
  expect(down.stdout).toMatch(new RegExp(`\\[down\\] kafka: broker \\(pid ${pid}\\) (stopped|killed)`));
  expect(down.stdout).toMatch(new RegExp(`\\[down\\] schema-registry: pid ${registryPid} stopped`));
  expect(isRunning(registryPid)).toBe(false);
  expect(down.stdout).toContain('[down] redis: not started by Accord, left running');
  expect(down.stdout).toContain('[down] postgres: not started by Accord, left running');
  expect(isRunning(pid)).toBe(false);

  const after = await accord(['status', '--json'], env);
  expect(after.code).toBe(1);
  expect(parseStatus(after.stdout).kafka?.healthy).toBe(false);

  // The registry keeps its data across restarts (it lives in Postgres).
  const again = await accord(['up'], env);
  expect(again.code).toBe(0);
  const found = await fetch(`${registryUrl}/subjects/${subject}/versions/latest`);
  expect(await found.json()).toMatchObject({ subject, version: 1, id });
  await fetch(`${registryUrl}/subjects/${subject}`, { method: 'DELETE' });
  await fetch(`${registryUrl}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
  expect((await accord(['down'], env)).code).toBe(0);

  // The shared stack is untouched.
  const shared = parseStatus((await accord(['status', '--json'])).stdout);
  expect(Object.values(shared).every((r) => r.healthy)).toBe(true);
});

describe('up refuses clearly and starts nothing', () => {
  let squatter: Server;
  afterEach(async () => {
    if (squatter?.listening) await new Promise<void>((r) => squatter.close(() => r()));
  });

  test('when a process that is not Accord holds the broker port', async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    const dir = stateDir();
    const result = await accord(['up'], {
      ACCORD_STATE_DIR: dir,
      ACCORD_KAFKA_PORT: String(port),
      ACCORD_KAFKA_CONTROLLER_PORT: String(await freePort()),
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^accord up: port ${port} is already in use by pid ${process.pid} \\(.*\\), which Accord did not start: .*\\[STACK_PORT_BUSY\\]$`,
      ),
    );
    expect(existsSync(join(dir, 'kafka', 'data'))).toBe(false);
    expect(existsSync(join(dir, 'stack.json'))).toBe(false);
  });

  test('when Java is missing', async () => {
    const result = await accord(['up'], {
      ACCORD_STATE_DIR: stateDir(),
      ACCORD_KAFKA_PORT: String(await freePort()),
      ACCORD_KAFKA_CONTROLLER_PORT: String(await freePort()),
      JAVA_HOME: '/nonexistent-java',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^accord up: Java 17 or newer is needed .* \[STACK_JAVA_MISSING\]\n$/);
  });

  test('when the Kafka jars cannot be downloaded', async () => {
    const dir = stateDir();
    const result = await accord(['up'], {
      ACCORD_STATE_DIR: dir,
      ACCORD_KAFKA_PORT: String(await freePort()),
      ACCORD_KAFKA_CONTROLLER_PORT: String(await freePort()),
      // An empty jar folder and an offline Maven with an empty local repository: the download must fail.
      ACCORD_KAFKA_LIBS: join(dir, 'libs'),
      ACCORD_MAVEN_FLAGS: `-o -Dmaven.repo.local=${join(dir, 'm2')}`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^accord up: could not download the Kafka jars from Maven Central .* \[STACK_DOWNLOAD_FAILED\]\n$/,
    );
  });

  test('when KAFKA_BROKERS names a cluster that does not answer', async () => {
    const port = await freePort();
    const result = await accord(['up'], { ACCORD_STATE_DIR: stateDir(), KAFKA_BROKERS: `127.0.0.1:${port}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^accord up: Kafka at 127\\.0\\.0\\.1:${port} \\(from KAFKA_BROKERS\\) is not reachable`),
    );
  });
});

test('with KAFKA_BROKERS and SCHEMA_REGISTRY_URL set, up uses them and starts nothing', async () => {
  const dir = stateDir();
  // An existing cluster authenticates: its credentials come from the environment (the test stack's operator).
  const result = await accord(['up'], {
    ACCORD_STATE_DIR: dir,
    KAFKA_BROKERS: '127.0.0.1:9092',
    KAFKA_SASL_USERNAME: 'accord-admin',
    KAFKA_SASL_PASSWORD_FILE: join(
      secretsDir({ ...process.env, ACCORD_ROOT: ROOT }),
      'kafka',
      'accord-admin',
    ),
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081',
  });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  // Its principals are its operator's to manage: up changes none (accord principals lists them).
  expect(result.stdout).toContain('[up] principals: not managed on a cluster named by KAFKA_BROKERS');
  expect(result.stdout).toContain('[up] kafka: using 127.0.0.1:9092 (KAFKA_BROKERS)');
  expect(result.stdout).toContain('[up] schema-registry: using http://127.0.0.1:8081 (SCHEMA_REGISTRY_URL)');
  expect(existsSync(join(dir, 'kafka'))).toBe(false);
  expect(existsSync(join(dir, 'registry'))).toBe(false);
});
