import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ResolvedConfig, resolveConfig } from '@accord/sdk';
import { TestContext } from '@accord/testing';

// Under jest (CommonJS) from this file's place; run by node as a module (cluster-cli.ts), from the project
// root it is started in.
export const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '..', '..') : process.cwd();

/** A private three-broker stack of the test's own: its state dir, ports, registry and credentials. */
export interface Cluster {
  env: Record<string, string>;
  brokers: string[];
  config: ResolvedConfig;
  stateDir: string;
  /** `accord <args>` against this stack. */
  accord(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The pid of node `id` from the stack's state file (undefined when it is not running). */
  pidOf(id: number): number | undefined;
  /** Node id of the active KRaft controller (the quorum leader), asked with Kafka's own tool. */
  activeController(): Promise<number>;
  down(): Promise<void>;
}

const free = (port: number) =>
  new Promise<boolean>((done) => {
    const server = createServer()
      .once('error', () => done(false))
      .listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });

/** A base port whose broker and controller ports for three nodes (base … base+5) are all free. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + 2 * Math.floor(Math.random() * 10000);
    const ports = [0, 1, 2, 3, 4, 5].map((i) => base + i);
    if ((await Promise.all(ports.map(free))).every(Boolean)) return base;
  }
  throw new Error('no six free ports in a row for a three-broker cluster');
}

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

function run(
  file: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      file,
      args,
      { env: { ...process.env, ...env }, timeout: 300000, maxBuffer: 32 << 20 },
      (error, stdout, stderr) =>
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** What a cluster is made of, to pass from the fault project's global setup to its tests (see sharedCluster). */
interface ClusterFacts {
  env: Record<string, string>;
  brokers: string[];
  stateDir: string;
}

const SHARED = 'ACCORD_FAULTS_CLUSTER';

/** A fault suite's progress line on stderr, timestamped (CI keeps it in the log). */
export const note = (line: string): void =>
  void process.stderr.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** A service's last warn and error lines (JSON logs), shortened: what a failed suite prints of it. */
export const complaints = (output: string): string =>
  output
    .split('\n')
    .filter((l) => /"level":"(warn|error)"/.test(l))
    .slice(-6)
    .map((l) => l.slice(0, 400))
    .join(' | ');

/**
 * What every fault suite sets up alike: the run's cluster (started by the project's global setup, stopped
 * by its teardown), a test context on it, and the stops of the services the suite starts. After the suite:
 * `beforeCleanup` (stop load, stop agents), the stops last-first, the context's cleanup, `afterCleanup`
 * (a private Postgres or Redis).
 */
export function faultSuite(
  hooks: {
    beforeCleanup?: () => Promise<void>;
    afterCleanup?: () => Promise<void>;
    /** The services are independent of each other: stop them all at once (each takes seconds to leave its group). */
    stopsAtOnce?: boolean;
  } = {},
): { cluster: Cluster; ctx: TestContext; stops: (() => Promise<void>)[] } {
  const cluster = sharedCluster();
  const ctx = new TestContext(cluster.config);
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await hooks.beforeCleanup?.();
    if (hooks.stopsAtOnce) await Promise.all(stops.map((stop) => stop().catch(() => {})));
    else for (const stop of stops.reverse()) await stop().catch(() => {});
    await ctx.cleanup();
    await hooks.afterCleanup?.();
  });
  return { cluster, ctx, stops };
}

/**
 * The three-broker cluster every fault suite of a run shares: started once by the project's global setup
 * (test/faults/global-setup.ts) and stopped by its teardown, so a run pays one cluster start (each jest run
 * has its own). Every suite leaves it whole (a killed node started again, replicas in sync).
 */
export function sharedCluster(): Cluster {
  const facts = process.env[SHARED];
  if (!facts)
    throw new Error(
      `${SHARED} is not set: fault suites run in the jest project "faults" (its global setup starts the cluster)`,
    );
  return clusterFrom(JSON.parse(facts) as ClusterFacts);
}

/** Starts a private three-broker stack (its own state dir, ports, registry, credentials) and publishes its facts. */
export async function startCluster(): Promise<Cluster> {
  const base = await freeBase();
  const stateDir = mkdtempSync(join(tmpdir(), 'accord-faults-'));
  const env = {
    ACCORD_STATE_DIR: stateDir,
    ACCORD_KAFKA_PORT: String(base),
    ACCORD_KAFKA_CONTROLLER_PORT: String(base + 1),
    ACCORD_REGISTRY_PORT: String(await freePort()),
  };
  // Interrupted or failed half way, what did start is stopped: brokers left running were found after an
  // interrupted run (they hold their ports and 1.5 GB until killed by hand).
  const down = () => run('bash', [join(ROOT, 'scripts', 'accord'), 'down'], env);
  const interrupted = () => {
    void down().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let up: Awaited<ReturnType<typeof run>>;
  try {
    up = await run('bash', [join(ROOT, 'scripts', 'accord'), 'up', '--brokers', '3'], env);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  if (up.code !== 0) {
    await down();
    throw new Error(`accord up --brokers 3 failed: ${up.stderr}${up.stdout}`);
  }
  const brokers = [0, 2, 4].map((i) => `127.0.0.1:${base + i}`);
  const full = {
    ...env,
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${env.ACCORD_REGISTRY_PORT}`,
  };
  const facts: ClusterFacts = { env: full, brokers, stateDir };
  process.env[SHARED] = JSON.stringify(facts);
  return clusterFrom(facts);
}

function clusterFrom({ env: full, brokers, stateDir }: ClusterFacts): Cluster {
  // `accord` manages the stack from its state dir and ports: with KAFKA_BROKERS set it would take the
  // cluster for an external one and never start a stopped node.
  const { KAFKA_BROKERS: _brokers, SCHEMA_REGISTRY_URL: _registry, ...stackEnv } = full;
  const accord = (args: string[]) => run('bash', [join(ROOT, 'scripts', 'accord'), ...args], stackEnv);
  const config = resolveConfig({}, { ...process.env, ...full });
  const pidOf = (id: number) => {
    const state = JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as {
      kafka?: { nodes?: { id: number; pid: number }[] };
    };
    return state.kafka?.nodes?.find((n) => n.id === id)?.pid;
  };
  return {
    env: full,
    brokers,
    config,
    stateDir,
    accord,
    pidOf,
    async activeController() {
      const sasl = config.kafka.sasl;
      const properties = join(stateDir, 'tool.properties');
      writeFileSync(
        properties,
        `security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${sasl?.username}" password="${sasl?.password}";\n`,
        { mode: 0o600 },
      );
      const result = await run(
        'java',
        [
          '-cp',
          `${join(ROOT, '.accord/kafka/libs')}/*`,
          'org.apache.kafka.tools.MetadataQuorumCommand',
          '--bootstrap-server',
          brokers.join(','),
          '--command-config',
          properties,
          'describe',
          '--status',
        ],
        {},
      );
      const leader = /LeaderId:\s+(\d+)/.exec(result.stdout)?.[1];
      if (!leader) throw new Error(`no quorum leader in: ${result.stdout}${result.stderr}`);
      return Number(leader);
    },
    async down() {
      await accord(['down']);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
