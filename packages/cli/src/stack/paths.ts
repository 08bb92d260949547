import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The project's root: ACCORD_ROOT, or the nearest folder above this file that holds infra/kafka/pom.xml. */
export function projectRoot(): string {
  if (process.env.ACCORD_ROOT) return resolve(process.env.ACCORD_ROOT);
  let dir = __dirname;
  while (dir !== dirname(dir)) {
    if (existsSync(join(dir, 'infra', 'kafka', 'pom.xml'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the Accord project root (infra/kafka/pom.xml); set ACCORD_ROOT');
}

export interface StackPaths {
  root: string;
  /** Where the running stack keeps its data, logs and pid files. ACCORD_STATE_DIR, default <root>/.accord. */
  stateDir: string;
  stateFile: string;
  kafkaDir: string;
  kafkaData: string;
  kafkaLog: string;
  kafkaProperties: string;
  /** Jars are a download cache shared by every state dir of this checkout. ACCORD_KAFKA_LIBS overrides. */
  kafkaLibs: string;
  kafkaJarsScript: string;
  kafkaTemplate: string;
  kafkaLog4j: string;
  redisDir: string;
  migrationsDir: string;
}

export function stackPaths(): StackPaths {
  const root = projectRoot();
  const stateDir = resolve(process.env.ACCORD_STATE_DIR || join(root, '.accord'));
  const kafkaDir = join(stateDir, 'kafka');
  return {
    root,
    stateDir,
    stateFile: join(stateDir, 'stack.json'),
    kafkaDir,
    kafkaData: join(kafkaDir, 'data'),
    kafkaLog: join(kafkaDir, 'kafka.log'),
    kafkaProperties: join(kafkaDir, 'server.properties'),
    kafkaLibs: resolve(process.env.ACCORD_KAFKA_LIBS || join(root, '.accord', 'kafka', 'libs')),
    kafkaJarsScript: join(root, 'scripts', 'kafka-jars.sh'),
    kafkaTemplate: join(root, 'infra', 'kafka', 'server.properties'),
    kafkaLog4j: join(root, 'infra', 'kafka', 'log4j2.properties'),
    redisDir: join(stateDir, 'redis'),
    migrationsDir: join(root, 'infra', 'postgres', 'migrations'),
  };
}

/** The environment with this stack's state dir: the SDK finds the stack's secrets under it. */
export function stackEnv(paths: StackPaths, env = process.env): Record<string, string | undefined> {
  return { ...env, ACCORD_STATE_DIR: paths.stateDir };
}
