import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AgentManifest,
  backoffMs,
  loadManifest,
  pollUntil,
  secretsDir,
  serviceNodeFlags,
} from '@accord/sdk';
import { freePort } from '../stack/processes';
import { type AgentState, agentDir, type ReplicaState, replicaReady, writeAgentState } from './state';

interface Replica extends ReplicaState {
  child?: ChildProcess;
  exited?: Promise<void>;
}

/**
 * The local supervisor of one agent: runs its replicas (`accord agent run`), restarts one that dies with
 * backoff (1 s doubling to 30 s), writes each replica's output to replica-<i>.log and the state to
 * state.json. SIGHUP re-reads the manifest: a new digest rolls the replicas one at a time, each finishing
 * its batch and checkpointing before it stops, the next one waiting until the new one is ready. SIGTERM
 * stops them all the same way.
 */
export async function supervise(name: string): Promise<number> {
  const dir = agentDir(name);
  const manifestPath = join(dir, 'manifest.yaml');
  let manifest: AgentManifest = loadManifest(manifestPath);
  // Replicas run with the service profile's V8 flags (bounded memory; ACCORD_SERVICE_NODE_OPTIONS).
  const nodeFlags = serviceNodeFlags();
  const replicas: Replica[] = [];
  let stopping = false;
  let status: AgentState['status'] = 'starting';
  const save = () =>
    writeAgentState({
      name,
      version: manifest.version ?? null,
      digest: manifest.digest,
      desiredReplicas: manifest.replicas,
      supervisorPid: process.pid,
      status,
      // A replica being replaced leaves a hole for a moment: the state lists the ones that exist.
      replicas: replicas
        .filter((r): r is Replica => r !== undefined)
        .map(({ child: _c, exited: _e, ...r }) => r),
      updatedAt: '',
    });
  const say = (line: string) =>
    process.stdout.write(`${new Date().toISOString()} supervisor ${name}: ${line}\n`);

  const start = async (index: number): Promise<Replica> => {
    const previous = replicas[index];
    const replica: Replica = {
      index,
      pid: null,
      healthPort: await freePort(),
      digest: manifest.digest,
      restarts: previous?.restarts ?? 0,
      startedAt: null,
      lastExit: previous?.lastExit ?? null,
    };
    replicas[index] = replica;
    const log = openSync(join(dir, `replica-${index}.log`), 'a');
    const child = spawn(
      process.execPath,
      [
        '--disable-warning=TimeoutNegativeWarning',
        ...nodeFlags,
        process.argv[1] ?? '',
        'agent',
        'run',
        manifestPath,
        '--replica',
        String(index),
        '--health-port',
        String(replica.healthPort),
      ],
      { stdio: ['ignore', log, log], env: replicaEnv(name) },
    );
    replica.child = child;
    replica.pid = child.pid ?? null;
    replica.startedAt = new Date().toISOString();
    replica.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        replica.pid = null;
        replica.lastExit = `${new Date().toISOString()} ${signal ?? `code ${code}`}`;
        save();
        resolve();
        if (stopping || replicas[index] !== replica) return;
        // Died on its own: start it again, later each time it keeps dying quickly.
        const upFor = Date.now() - Date.parse(replica.startedAt ?? '');
        replica.restarts++;
        const wait = upFor > 60_000 ? 1000 : backoffMs(replica.restarts, 1000, 30_000);
        say(`replica ${index} exited (${replica.lastExit}); restarting in ${wait} ms`);
        setTimeout(() => {
          if (!stopping && replicas[index] === replica) void start(index).then(save);
        }, wait);
      }),
    );
    save();
    return replica;
  };

  const ready = (replica: Replica) =>
    pollUntil(
      async () => {
        if (replica.pid === null) return false; // died while starting
        return (await replicaReady(replica.healthPort)) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );

  const stop = async (replica: Replica | undefined) => {
    if (!replica?.child || replica.pid === null) return;
    replica.child.kill('SIGTERM');
    const timer = setTimeout(() => replica.child?.kill('SIGKILL'), 30_000);
    await replica.exited;
    clearTimeout(timer);
  };

  const roll = async () => {
    const next = loadManifest(manifestPath);
    if (next.digest === manifest.digest) return;
    say(`rolling from ${manifest.digest} to ${next.digest} (${next.replicas} replica(s))`);
    status = 'rolling';
    manifest = next;
    for (let i = 0; i < Math.max(replicas.length, next.replicas); i++) {
      if (stopping) return;
      const old = replicas[i];
      if (i >= next.replicas) {
        replicas.length = next.replicas; // forget it first: its exit is not a crash
        await stop(old);
        continue;
      }
      delete replicas[i];
      await stop(old);
      const replica = await start(i);
      if ((await ready(replica)) !== true)
        say(`replica ${i} is not ready after 120 s; going on (see replica-${i}.log)`);
    }
    status = 'running';
    save();
  };

  process.on('SIGHUP', () => {
    roll().catch((error: unknown) => say(`rolling update failed: ${String(error)}`));
  });
  const signalled = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  save(); // `starting`, with its pid: from here `accord stop` reaches it, even before any replica runs
  for (let i = 0; i < manifest.replicas; i++) await start(i);
  status = 'running';
  save();
  say(`running ${manifest.replicas} replica(s) of ${manifest.digest}`);
  await signalled;
  stopping = true;
  status = 'stopping';
  save();
  await Promise.all(replicas.map((r) => stop(r)));
  status = 'stopped';
  save();
  say('stopped');
  return 0;
}

/**
 * A replica logs in to Kafka as its agent's own principal when the local stack made one (accord deploy
 * did): the password is read from its 0600 file, never passed on a command line.
 */
function replicaEnv(name: string): NodeJS.ProcessEnv {
  const principal = `accord_agent_${name}`;
  const file = join(secretsDir(), 'kafka', principal);
  if (!existsSync(file)) return process.env;
  const { KAFKA_SASL_PASSWORD: _password, ...env } = process.env;
  return {
    ...env,
    KAFKA_SASL_USERNAME: principal,
    KAFKA_SASL_PASSWORD_FILE: file,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
  };
}
