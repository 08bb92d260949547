import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StackError } from '@accord/sdk';
import type { StackPaths } from './paths';
import { commandLine, isAlive } from './processes';
import { readState } from './state';

// The local cluster's layout (its nodes, ports, paths and size) and which of its nodes run: what
// kafka.ts starts, formats and stops.
export interface LocalKafkaSettings {
  /** The first node's broker and controller ports; node i (1-based) uses these plus 2·(i-1). */
  port: number;
  controllerPort: number;
  /** How many combined broker+controller nodes (1, or 3 for a cluster that survives a broker's loss). */
  brokers: number;
  heap: string;
  startTimeoutMs: number;
}

export function localKafkaSettings(env = process.env, paths?: StackPaths): LocalKafkaSettings {
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
    // The size is the storage's: fixed when it was formatted (accord up --brokers N).
    brokers: (paths && readClusterFile(paths)?.brokers) || 1,
    heap: env.ACCORD_KAFKA_HEAP || '512m',
    startTimeoutMs: 120_000,
  };
}

/** One node of the local cluster: node 1 keeps the single-node paths, the others live under node-<id>/. */
export interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  data: string;
  properties: string;
  log: string;
}

export function kafkaNodes(paths: StackPaths, settings: LocalKafkaSettings): KafkaNode[] {
  return Array.from({ length: settings.brokers }, (_, i) => {
    const id = i + 1;
    const dir = join(paths.kafkaDir, `node-${id}`);
    return {
      id,
      port: settings.port + 2 * i,
      controllerPort: settings.controllerPort + 2 * i,
      data: id === 1 ? paths.kafkaData : join(dir, 'data'),
      properties: id === 1 ? paths.kafkaProperties : join(dir, 'server.properties'),
      log: id === 1 ? paths.kafkaLog : join(dir, 'kafka.log'),
    };
  });
}

/** The bootstrap brokers of the local cluster (every node). */
export function localBrokers(paths: StackPaths, env = process.env): string[] {
  return kafkaNodes(paths, localKafkaSettings(env, paths)).map((n) => `127.0.0.1:${n.port}`);
}

export interface ClusterFile {
  clusterId: string;
  brokers: number;
}

export const clusterFile = (paths: StackPaths) => join(paths.kafkaDir, 'cluster.json');

export function readClusterFile(paths: StackPaths): ClusterFile | undefined {
  try {
    return JSON.parse(readFileSync(clusterFile(paths), 'utf8')) as ClusterFile;
  } catch {
    return undefined;
  }
}

/** The nodes Accord started from this state dir that still run (a recycled pid does not pass). */
export function runningLocalNodes(paths: StackPaths): { id: number; pid: number; port: number }[] {
  const kafka = readState(paths.stateFile).kafka;
  const nodes =
    kafka?.nodes ??
    (kafka ? [{ id: 1, pid: kafka.pid, port: kafka.port, properties: paths.kafkaProperties }] : []);
  return nodes
    .filter((n) => {
      if (!isAlive(n.pid)) return false;
      const cmd = commandLine(n.pid);
      return cmd.includes('kafka.Kafka') && cmd.includes(n.properties);
    })
    .map(({ id, pid, port }) => ({ id, pid, port }));
}

/** The broker Accord started from this state dir (its first node), if it is still running. */
export function runningLocalKafka(paths: StackPaths): { pid: number; port: number } | undefined {
  const first = runningLocalNodes(paths).find((n) => n.id === 1);
  return first ? { pid: first.pid, port: first.port } : undefined;
}
