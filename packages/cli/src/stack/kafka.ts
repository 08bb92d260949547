import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PRINCIPAL, ensureSecret, type ResolvedConfig, StackError } from '@accord/sdk';
import { checkKafka } from '@accord/sdk/ops';
import { type StackPaths, stackEnv } from './paths';
import { assertPortFree, commandLine, isAlive, stopProcess, waitFor } from './processes';
import { readState, updateState } from './state';

export interface LocalKafkaSettings {
  port: number;
  controllerPort: number;
  heap: string;
  startTimeoutMs: number;
}

export function localKafkaSettings(env = process.env): LocalKafkaSettings {
  const port = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      throw new StackError('STACK_START_FAILED', `${name} must be a TCP port (1-65535), got "${raw}"`);
    }
    return value;
  };
  return {
    port: port('ACCORD_KAFKA_PORT', 9092),
    controllerPort: port('ACCORD_KAFKA_CONTROLLER_PORT', 9093),
    heap: env.ACCORD_KAFKA_HEAP || '512m',
    startTimeoutMs: 120_000,
  };
}

/** The broker Accord started from this state dir, if it is still running. */
export function runningLocalKafka(paths: StackPaths): { pid: number; port: number } | undefined {
  const kafka = readState(paths.stateFile).kafka;
  if (!kafka || !isAlive(kafka.pid)) return undefined;
  // A recycled pid must not pass for our broker: check it is kafka.Kafka with our properties file.
  const cmd = commandLine(kafka.pid);
  if (!cmd.includes('kafka.Kafka') || !cmd.includes(paths.kafkaProperties)) return undefined;
  return { pid: kafka.pid, port: kafka.port };
}

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

function renderProperties(paths: StackPaths, settings: LocalKafkaSettings): void {
  const secrets = clusterSecrets(paths);
  const values: Record<string, string> = {
    KAFKA_PORT: String(settings.port),
    CONTROLLER_PORT: String(settings.controllerPort),
    LOG_DIRS: paths.kafkaData,
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
  writeFileSync(paths.kafkaProperties, text, { mode: 0o600 });
  chmodSync(paths.kafkaProperties, 0o600);
}

function classpath(paths: StackPaths): string {
  return `${paths.kafkaLibs}/*`;
}

/** Formats the KRaft storage once; later starts reuse it (and its topics). */
function formatStorage(paths: StackPaths): boolean {
  if (existsSync(join(paths.kafkaData, 'meta.properties'))) {
    if (!existsSync(join(paths.kafkaData, SECURED_STAMP))) {
      throw new StackError(
        'STACK_START_FAILED',
        `the Kafka data in ${paths.kafkaData} was formatted before Accord turned on authentication: it has no credentials for the broker or the operator. Stop the stack (accord down), move that directory away (its topics go with it) and run accord up again`,
      );
    }
    return false;
  }
  const secrets = clusterSecrets(paths);
  // As Kafka's own Uuid.randomUuid(): never an id that starts with '-', which the storage tool would read
  // as an option (it failed one format in 64).
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
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
      paths.kafkaProperties,
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
    throw new StackError(
      'STACK_START_FAILED',
      `formatting Kafka storage in ${paths.kafkaData} failed: ${reason}`,
    );
  }
  writeFileSync(join(paths.kafkaData, SECURED_STAMP), 'SCRAM credentials written at format\n');
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
  | { action: 'already-running'; pid: number; port: number }
  | { action: 'started'; pid: number; port: number; seconds: number };

/**
 * Brings up Kafka. With KAFKA_BROKERS set, that cluster is used and only checked. Otherwise a single-node
 * KRaft broker is started from the Maven jars (downloaded once) and awaited until kafkajs can list topics.
 */
export async function kafkaUp(
  paths: StackPaths,
  config: ResolvedConfig,
  external: boolean,
  log: (line: string) => void,
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

  const settings = localKafkaSettings();
  const running = runningLocalKafka(paths);
  if (running) {
    const ready = await waitFor(async () => (await checkKafka(config)).ok, settings.startTimeoutMs, 500);
    if (!ready)
      throw new StackError(
        'STACK_START_FAILED',
        `the local broker (pid ${running.pid}) runs but does not answer; see ${paths.kafkaLog}`,
      );
    return { action: 'already-running', ...running };
  }

  for (const port of [settings.port, settings.controllerPort]) {
    await assertPortFree(
      port,
      'stop it, or set KAFKA_BROKERS to use that broker, or ACCORD_KAFKA_PORT/ACCORD_KAFKA_CONTROLLER_PORT to pick other ports',
    );
  }

  checkJava();
  ensureJars(paths);
  mkdirSync(paths.kafkaData, { recursive: true });
  renderProperties(paths, settings);
  if (formatStorage(paths)) log(`kafka: formatted storage in ${paths.kafkaData}`);

  const started = Date.now();
  const out = openSync(paths.kafkaLog, 'a');
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
      paths.kafkaProperties,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const pid = child.pid;
  child.unref();
  if (pid === undefined)
    throw new StackError('STACK_START_FAILED', `could not start java; see ${paths.kafkaLog}`);
  updateState(paths.stateFile, (state) => {
    state.kafka = {
      pid,
      port: settings.port,
      controllerPort: settings.controllerPort,
      startedAt: new Date().toISOString(),
    };
  });
  log(`kafka: starting broker (pid ${pid}) on 127.0.0.1:${settings.port}, log ${paths.kafkaLog}`);

  const ready = await waitFor(
    async () => {
      if (!isAlive(pid)) return true; // stop waiting: it died
      return (await checkKafka(config)).ok;
    },
    settings.startTimeoutMs,
    500,
  );
  if (!ready || !isAlive(pid)) {
    await stopProcess(pid, 5000);
    updateState(paths.stateFile, (state) => {
      delete state.kafka;
    });
    const reason =
      lastLogError(paths.kafkaLog) ??
      (ready ? 'it exited' : `no answer within ${settings.startTimeoutMs / 1000}s`);
    throw new StackError(
      'STACK_START_FAILED',
      `the Kafka broker did not start: ${reason} (log: ${paths.kafkaLog})`,
    );
  }
  return { action: 'started', pid, port: settings.port, seconds: (Date.now() - started) / 1000 };
}

export async function kafkaDown(paths: StackPaths): Promise<string> {
  const running = runningLocalKafka(paths);
  updateState(paths.stateFile, (state) => {
    delete state.kafka;
  });
  if (!running) return 'kafka: not started by Accord, nothing to stop';
  const how = await stopProcess(running.pid, 30000);
  return `kafka: broker (pid ${running.pid}) ${how}`;
}
