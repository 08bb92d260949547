import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ADMIN_PRINCIPAL, ensureSecret, type ResolvedConfig, StackError } from '@accord/sdk';
import { checkKafka } from '@accord/sdk/ops';
import {
  type ClusterFile,
  clusterFile,
  type KafkaNode,
  kafkaNodes,
  localKafkaSettings,
  readClusterFile,
  runningLocalNodes,
} from './kafka-nodes';
import { type StackPaths, stackEnv } from './paths';
import { assertPortFree, isAlive, isPortOpen, stopProcess, waitFor } from './processes';
import { updateState } from './state';

export {
  type KafkaNode,
  kafkaNodes,
  type LocalKafkaSettings,
  localBrokers,
  localKafkaSettings,
  runningLocalKafka,
  runningLocalNodes,
} from './kafka-nodes';

function javaBinary(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

export function checkJava(): number {
  const result = spawnSync(javaBinary(), ['-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new StackError(
      'STACK_JAVA_MISSING',
      'Java 17 or newer is needed to run the local Kafka broker and was not found: install it (apt-get install -y openjdk-17-jre-headless) or set KAFKA_BROKERS to an existing cluster',
    );
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : 0;
  if (major < 17) {
    throw new StackError(
      'STACK_JAVA_MISSING',
      `Kafka 4.x needs Java 17 or newer, found Java ${major || 'of unknown version'} at ${javaBinary()}: install Java 17 (or set JAVA_HOME to one)`,
    );
  }
  return major;
}

/** Downloads the broker jars from Maven Central once (scripts/kafka-jars.sh keeps a stamp). */
export function ensureJars(paths: StackPaths): void {
  // stdout passes through so the user sees the download start; stderr is kept for the one-line error.
  const result = spawnSync('bash', [paths.kafkaJarsScript], {
    encoding: 'utf8',
    stdio: ['ignore', 'inherit', 'pipe'],
    env: { ...process.env, ACCORD_KAFKA_LIBS: paths.kafkaLibs },
  });
  if (result.status !== 0) {
    const reason =
      (result.stderr ?? '')
        .trim()
        .split('\n')
        .pop()
        ?.replace(/^\[kafka-jars\] error: /, '') || 'unknown error';
    throw new StackError(
      'STACK_DOWNLOAD_FAILED',
      `could not download the Kafka jars from Maven Central (${reason}): check access to Maven Central and retry, or set KAFKA_BROKERS to an existing cluster`,
    );
  }
}

/** The local cluster's own principals: the broker between brokers, the controller listener, the operator. */
function clusterSecrets(paths: StackPaths) {
  const env = stackEnv(paths);
  return {
    broker: ensureSecret('kafka', 'accord-broker', env).value,
    controller: ensureSecret('kafka', 'accord-controller', env).value,
    admin: ensureSecret('kafka', ADMIN_PRINCIPAL, env).value,
  };
}

function renderProperties(paths: StackPaths, node: KafkaNode, nodes: KafkaNode[]): void {
  const secrets = clusterSecrets(paths);
  // Three nodes keep every record on all three and acknowledge a write once two have it: one broker
  // can be lost without losing an acknowledged event or stopping writes.
  const replication = Math.min(3, nodes.length);
  const values: Record<string, string> = {
    NODE_ID: String(node.id),
    QUORUM_VOTERS: nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(','),
    KAFKA_PORT: String(node.port),
    CONTROLLER_PORT: String(node.controllerPort),
    LOG_DIRS: node.data,
    REPLICATION_FACTOR: String(replication),
    MIN_ISR: String(replication >= 3 ? 2 : 1),
    BROKER_PASSWORD: secrets.broker,
    CONTROLLER_PASSWORD: secrets.controller,
  };
  const text = readFileSync(paths.kafkaTemplate, 'utf8').replace(
    /\$\{([A-Z_]+)\}/g,
    (whole, name: string) => {
      const value = values[name];
      if (value === undefined)
        throw new StackError('STACK_START_FAILED', `unknown placeholder ${whole} in ${paths.kafkaTemplate}`);
      return value;
    },
  );
  mkdirSync(dirname(node.properties), { recursive: true });
  writeFileSync(node.properties, text, { mode: 0o600 });
  chmodSync(node.properties, 0o600);
}

function classpath(paths: StackPaths): string {
  return `${paths.kafkaLibs}/*`;
}

/**
 * The cluster's id and size, chosen when its storage is first formatted: every node is formatted with the
 * same id, and while any node's storage exists another size is refused (the replication of existing
 * topics depends on it). Storage that is gone entirely (moved away) makes a new cluster, with a new id.
 */
function clusterIdentity(paths: StackPaths, nodes: KafkaNode[]): ClusterFile {
  const brokers = nodes.length;
  const existing = readClusterFile(paths);
  const formatted = [paths.kafkaData, ...nodes.map((n) => n.data)].some((d) =>
    existsSync(join(d, 'meta.properties')),
  );
  if (formatted) {
    const size = existing?.brokers ?? 1; // a single node formatted before cluster.json existed
    if (size !== brokers)
      throw new StackError(
        'STACK_START_FAILED',
        `the local Kafka in ${paths.kafkaDir} has ${size} broker(s), not ${brokers}: its size is fixed when it is formatted. Stop it (accord down) and move that directory away to start another size (its topics go with it)`,
      );
    // That single node keeps the id in its meta.properties; this one is then never used.
    return existing ?? { clusterId: newClusterId(), brokers };
  }
  const identity = { clusterId: newClusterId(), brokers };
  mkdirSync(paths.kafkaDir, { recursive: true });
  writeFileSync(clusterFile(paths), `${JSON.stringify(identity)}\n`);
  return identity;
}

/** As Kafka's own Uuid.randomUuid(): never an id that starts with '-', which the storage tool would read as an option. */
function newClusterId(): string {
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  return clusterId;
}

/** Formats a node's KRaft storage once; later starts reuse it (and its topics). */
function formatStorage(paths: StackPaths, node: KafkaNode, clusterId: string): boolean {
  if (existsSync(join(node.data, 'meta.properties'))) {
    if (!existsSync(join(node.data, SECURED_STAMP))) {
      throw new StackError(
        'STACK_START_FAILED',
        `the Kafka data in ${node.data} was formatted before Accord turned on authentication: it has no credentials for the broker or the operator. Stop the stack (accord down), move that directory away (its topics go with it) and run accord up again`,
      );
    }
    return false;
  }
  mkdirSync(node.data, { recursive: true });
  const secrets = clusterSecrets(paths);
  const result = spawnSync(
    javaBinary(),
    [
      `-Dlog4j2.configurationFile=${paths.kafkaLog4j}`,
      '-cp',
      classpath(paths),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      node.properties,
      '--ignore-formatted',
      '--add-scram',
      `SCRAM-SHA-512=[name=accord-broker,password=${secrets.broker}]`,
      '--add-scram',
      `SCRAM-SHA-512=[name=${ADMIN_PRINCIPAL},password=${secrets.admin}]`,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    // The tool logs INFO lines around its error: keep the last line that is not one of them.
    const lines = `${result.stderr}\n${result.stdout}`.trim().split('\n').filter(Boolean);
    const reason =
      lines.filter((l) => !/\] (INFO|DEBUG) /.test(l)).pop() ?? lines.pop() ?? `exit code ${result.status}`;
    throw new StackError('STACK_START_FAILED', `formatting Kafka storage in ${node.data} failed: ${reason}`);
  }
  writeFileSync(join(node.data, SECURED_STAMP), 'SCRAM credentials written at format\n');
  return true;
}

/** Marks storage formatted with the cluster's SCRAM credentials (older local stacks had none). */
const SECURED_STAMP = 'accord-secured';

function lastLogError(file: string): string | undefined {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    return lines
      .filter((l) => /ERROR|Exception/.test(l))
      .pop()
      ?.slice(0, 300);
  } catch {
    return undefined;
  }
}

export type KafkaUpResult =
  | { action: 'external'; brokers: string[] }
  | { action: 'already-running'; pid: number; port: number; nodes: number }
  | { action: 'started'; pid: number; port: number; seconds: number; nodes: number; restarted: number[] };

/** Every node accepts connections, and the cluster answers with every node registered as a broker. */
async function clusterReady(config: ResolvedConfig, nodes: KafkaNode[]): Promise<boolean> {
  if (!(await Promise.all(nodes.map((n) => isPortOpen(n.port)))).every(Boolean)) return false;
  const health = await checkKafka(config);
  return health.ok && Number(/^(\d+) broker/.exec(health.detail)?.[1] ?? 0) >= nodes.length;
}

/**
 * Brings up Kafka. With KAFKA_BROKERS set, that cluster is used and only checked. Otherwise the local
 * KRaft cluster (one node, or `brokers` combined broker+controller nodes) is started from the Maven jars
 * (downloaded once): the nodes not running are started (a node killed since is started again), and the
 * whole cluster is awaited until kafkajs sees every broker.
 */
export async function kafkaUp(
  paths: StackPaths,
  config: ResolvedConfig,
  external: boolean,
  log: (line: string) => void,
  brokers?: number,
): Promise<KafkaUpResult> {
  if (external) {
    const health = await checkKafka(config);
    if (!health.ok) {
      throw new StackError(
        'STACK_START_FAILED',
        `Kafka at ${config.kafka.brokers.join(',')} (from KAFKA_BROKERS) is not reachable: ${health.detail}`,
      );
    }
    return { action: 'external', brokers: config.kafka.brokers };
  }

  const stored = localKafkaSettings(process.env, paths);
  const settings = { ...stored, brokers: brokers ?? stored.brokers };
  const nodes = kafkaNodes(paths, settings);
  const identity = clusterIdentity(paths, nodes);
  const running = runningLocalNodes(paths);
  const missing = nodes.filter((n) => !running.some((r) => r.id === n.id));
  if (missing.length === 0) {
    const first = running.find((r) => r.id === 1) as { pid: number; port: number };
    const ready = await waitFor(() => clusterReady(config, nodes), settings.startTimeoutMs, 500);
    if (!ready)
      throw new StackError(
        'STACK_START_FAILED',
        `the local broker (pid ${first.pid}) runs but does not answer; see ${paths.kafkaLog}`,
      );
    return { action: 'already-running', pid: first.pid, port: first.port, nodes: nodes.length };
  }

  for (const node of missing)
    for (const port of [node.port, node.controllerPort]) {
      await assertPortFree(
        port,
        'stop it, or set KAFKA_BROKERS to use that broker, or ACCORD_KAFKA_PORT/ACCORD_KAFKA_CONTROLLER_PORT to pick other ports',
      );
    }

  checkJava();
  ensureJars(paths);
  const started = Date.now();
  const pids = new Map(running.map((r) => [r.id, r.pid]));
  for (const node of missing) {
    renderProperties(paths, node, nodes);
    if (formatStorage(paths, node, identity.clusterId)) log(`kafka: formatted storage in ${node.data}`);
    const out = openSync(node.log, 'a');
    const child = spawn(
      javaBinary(),
      [
        `-Xms${settings.heap}`,
        `-Xmx${settings.heap}`,
        '-XX:+UseG1GC',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${paths.kafkaLog4j}`,
        '-cp',
        classpath(paths),
        'kafka.Kafka',
        node.properties,
      ],
      { detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    child.unref();
    if (child.pid === undefined)
      throw new StackError('STACK_START_FAILED', `could not start java; see ${node.log}`);
    pids.set(node.id, child.pid);
    log(
      `kafka: starting broker${nodes.length > 1 ? ` ${node.id}/${nodes.length}` : ''} (pid ${child.pid}) on 127.0.0.1:${node.port}, log ${node.log}`,
    );
  }
  updateState(paths.stateFile, (state) => {
    const startedAt = new Date().toISOString();
    const first = nodes[0] as KafkaNode;
    state.kafka = {
      pid: pids.get(1) as number,
      port: first.port,
      controllerPort: first.controllerPort,
      startedAt,
      nodes: nodes.map((n) => ({
        id: n.id,
        pid: pids.get(n.id) as number,
        port: n.port,
        controllerPort: n.controllerPort,
        properties: n.properties,
      })),
    };
  });

  const dead = () => missing.filter((n) => !isAlive(pids.get(n.id) as number));
  const ready = await waitFor(
    async () => dead().length > 0 || (await clusterReady(config, nodes)),
    settings.startTimeoutMs,
    500,
  );
  const died = dead();
  if (!ready || died.length) {
    const failed = died[0] ?? (missing[0] as KafkaNode);
    for (const node of missing) await stopProcess(pids.get(node.id) as number, 5000);
    updateState(paths.stateFile, (state) => {
      delete state.kafka;
    });
    const reason =
      lastLogError(failed.log) ??
      (ready ? 'it exited' : `no answer within ${settings.startTimeoutMs / 1000}s`);
    throw new StackError(
      'STACK_START_FAILED',
      `the Kafka broker did not start: ${reason} (log: ${failed.log})`,
    );
  }
  return {
    action: 'started',
    pid: pids.get(1) as number,
    port: (nodes[0] as KafkaNode).port,
    seconds: (Date.now() - started) / 1000,
    nodes: nodes.length,
    restarted: running.length ? missing.map((n) => n.id) : [],
  };
}

export async function kafkaDown(paths: StackPaths): Promise<string> {
  const running = runningLocalNodes(paths);
  updateState(paths.stateFile, (state) => {
    delete state.kafka;
  });
  if (running.length === 0) return 'kafka: not started by Accord, nothing to stop';
  // All at once: a node stopped after the others finds no controller quorum and cannot shut down cleanly.
  const how = await Promise.all(running.map((node) => stopProcess(node.pid, 30000)));
  return running
    .map((node, i) => `kafka: broker${running.length > 1 ? ` ${node.id}` : ''} (pid ${node.pid}) ${how[i]}`)
    .join('\n');
}
