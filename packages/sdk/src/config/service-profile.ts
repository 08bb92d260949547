import { ConfigError } from '../errors';

/**
 * How a service process holds memory (#15: under 150 MB whatever the backlog). Measured with the archive
 * working through 100,000 events (bench/service-memory.ts): V8's defaults 409 MB resident (V8 sizes its heap
 * for throughput: almost all of it garbage not yet collected, and a raw kafkajs consumer does the same);
 * with these flags 184 MB; with these flags and 1 MiB fetches 141 MB, at the same events/s. 1 MiB was
 * the default until the ninth session, when it peaked at 142–154 MB (five runs, 30,000–100,000 events):
 * over the bound by a few MB in some; 512 KiB 122–135 MB (five runs) at the same events/s (the archive
 * waits on Postgres), 256 KiB no less (123 MB). The price is on fast pipelines: at least once with decode
 * about 10% fewer events/s than at 1 MiB, without decode about a third (100,000 events, A/B twice).
 *
 * The V8 flags Accord starts service processes with (agent replicas under `accord deploy`, the services of
 * `scripts/demo.sh`): a 4 MB young generation and an explicit old-space limit make V8 collect early; 512 MB
 * is a ceiling no Accord service comes near, not a budget.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=512'];

/**
 * Services whose process needs a heap ceiling of its own. V8 grows its heap with the rate a process
 * allocates at, up to the ceiling: a service that keeps its CPU busy (the feature service through a
 * backlog: six pipelines, Redis answering in microseconds) filled whatever it was given. Peak RSS through
 * 50,000 events (bench/service-memory.ts, 2026-11-27, three runs each unless said): old-space ceiling 512 MB
 * 175–180; 80: 156–162 (two); 64: 149–152 (two); 56 with 2 MB semi-spaces: 137–147 (six); 48 with 2 MB
 * semi-spaces: 133–135 (seven), at about the events/s it has uncapped (7,550–8,250 against 7,850–8,125).
 * What it holds live (a heap snapshot mid-backlog) is 29 MB, nearly all of it the program (11 MB of module sources and
 * names, 9 MB of code): 48 MB leaves it 19 MB for data, of which its bounded fetches and chunks use a
 * few. More views in one process hold more: raise it with ACCORD_SERVICE_NODE_OPTIONS, or spread them
 * (`--views`). The archive stays at 121–125 MB under the general ceiling (same runs).
 *
 * The log pipeline's parse stage (bench/log-stage-memory.ts, 56,846 lines): 206–217 MB under the general
 * ceiling at 16,000 lines/s; 48 MB with 512 KiB fetches 147–154 MB, its live heap up to 43 MB (lines in
 * flight), too close to the ceiling; with 256 KiB fetches (SERVICE_FETCH_PROFILES) live 29 MB and 139–141 MB
 * at 13,800–14,200 lines/s.
 */
export const SERVICE_HEAP_PROFILES: Readonly<Record<string, readonly string[]>> = {
  features: ['--max-semi-space-size=2', '--max-old-space-size=48'],
  'logs-parse': ['--max-semi-space-size=2', '--max-old-space-size=48'],
};

/** What a service's pipelines fetch at once (runService) unless ACCORD_FETCH_MAX_BYTES says otherwise. */
export const SERVICE_FETCH_MAX_BYTES = 512 * 1024;

/** Services that fetch less than SERVICE_FETCH_MAX_BYTES: what they hold live must fit their heap ceiling. */
export const SERVICE_FETCH_PROFILES: Readonly<Record<string, number>> = {
  'logs-parse': 256 * 1024,
};

/**
 * The fetch size a service passes to resolveConfig: its own (SERVICE_FETCH_PROFILES, by the service's name)
 * or SERVICE_FETCH_MAX_BYTES, or none when the environment sets one.
 */
export function serviceFetchMaxBytes(
  env: NodeJS.ProcessEnv = process.env,
  service?: string,
): number | undefined {
  if (env.ACCORD_FETCH_MAX_BYTES !== undefined) return undefined;
  return (service && SERVICE_FETCH_PROFILES[service]) || SERVICE_FETCH_MAX_BYTES;
}

/**
 * The flags for a service process: ACCORD_SERVICE_NODE_OPTIONS when set (empty: V8's own defaults), else
 * the service's own profile (SERVICE_HEAP_PROFILES, by the service's name) or SERVICE_NODE_FLAGS. Each
 * must be a node option (`--…`): anything else is refused, naming it.
 */
export function serviceNodeFlags(env: NodeJS.ProcessEnv = process.env, service?: string): string[] {
  const raw = env.ACCORD_SERVICE_NODE_OPTIONS;
  if (raw === undefined) return [...((service && SERVICE_HEAP_PROFILES[service]) || SERVICE_NODE_FLAGS)];
  const flags = raw.split(/\s+/).filter(Boolean);
  const bad = flags.find((flag) => !/^--[a-z0-9-]+(=\S+)?$/.test(flag));
  if (bad !== undefined)
    throw new ConfigError(
      `ACCORD_SERVICE_NODE_OPTIONS: "${bad}" is not a node option (each is --name or --name=value)`,
    );
  return flags;
}
