import type { Redis } from 'ioredis';
import { z } from 'zod';
import { type ResolvedConfig, resolveConfig } from '../config';
import { AccordError, describeError, UnavailableError } from '../errors';
import type { SomeCatalog } from '../events/catalog';
import { connectIfIdle, createPgPool, createRedis } from '../infra/clients';
import type { SqlPool } from '../infra/sql';
import { createPipeline, type Pipeline, type PipelineMode } from '../pipelines/pipeline';
import type { ChunkPass } from '../pipelines/types';
import { defaultLogger, type Logger } from '../telemetry/log';
import { Telemetry } from '../telemetry/seam';
import { parseOptions } from '../validation';
import { FeatureStoreGuard } from './rebuild';
import { applyCommands, type FeatureResult, readFeatures, registerScripts } from './store';
import { type FeatureView, viewId } from './views';

export { FeatureStoreGuard } from './rebuild';
export * from './store';
export * from './views';

export interface FeaturePipelineOptions {
  views: FeatureView[];
  /** Base consumer group; each view version runs as `<group>.<view>.v<version>`. Default "features". */
  group?: string;
  /** Redis key prefix (tests use their own). */
  prefix?: string;
  config?: ResolvedConfig;
  pool?: SqlPool;
  redis?: Redis;
  mode?: PipelineMode;
  /** The domain's catalog: events decode to its current shape of their schema. */
  catalog?: SomeCatalog;
  /** Log lines of every view version's pipeline. Default: the process's logger. */
  logger?: Logger;
  /** Lifecycle events of every view version's pipeline, and `features.written` (end-to-end staleness) per flush. */
  telemetry?: Telemetry;
  /**
   * Partitions each view's pipeline applies at once (default 1), each still in order and flushed on its
   * own (a chunk's commands are kept per chunk). More overlaps the partitions' Redis and checkpoint round
   * trips; at 2,000 events/s it did not move the staleness measurably (docs/performance.md).
   */
  partitionsAtOnce?: number;
  /**
   * At-least-once: how often each view's checkpoints are written (default 250 ms; 0: after every chunk).
   * Redis is written per chunk either way; a crash re-applies at most this interval's events, which the
   * per-entity watermarks skip. Writing per batch was most of the staleness at 2,000 events/s.
   */
  checkpointEveryMs?: number;
}

const FeatureOptions = z.looseObject({
  views: z.array(z.looseObject({ name: z.string(), version: z.int() })).min(1, 'must list at least one view'),
  group: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,150}$/, "must be letters, digits, '.', '_' or '-'")
    .optional(),
  prefix: z.string().optional(),
  mode: z.enum(['at-least-once', 'transactional']).optional(),
  partitionsAtOnce: z.int().min(1).max(64).optional(),
  checkpointEveryMs: z.int().min(0).max(60_000).optional(),
});

/** The consumer group of one view version: its own checkpoints, its own replay. */
export function featureGroup(group: string, view: FeatureView): string {
  return `${group}.${view.name}.v${view.version}`;
}

/**
 * The feature pipelines: one checkpointed consumer group per view version, so that each version keeps
 * its own progress. A version added later backfills from the start of retention while the others keep
 * serving; `accord replay <group>.<view>.v<version>` recomputes that version alone. Each applies its
 * events to Redis one round trip per chunk (pipelined Lua calls), each entity's update atomic and
 * applied at most once (see store.ts).
 */
export class FeaturePipelines {
  readonly group: string;
  readonly redis: Redis;
  readonly pipelines: Pipeline[];
  readonly telemetry: Telemetry;
  /** Notices a view whose Redis state was lost and rebuilds it (rebuild.ts). */
  readonly guard: FeatureStoreGuard;
  private readonly views: FeatureView[];
  private ownPool: SqlPool | undefined;
  private readonly log: Logger;

  constructor(options: FeaturePipelineOptions) {
    parseOptions('invalid feature pipeline options', FeatureOptions, options);
    const config = options.config ?? resolveConfig();
    this.telemetry = options.telemetry ?? new Telemetry();
    this.group = options.group ?? 'features';
    this.redis = registerScripts(options.redis ?? createRedis(config.redis.url, { failFast: false }));
    const ids = options.views.map(viewId);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new AccordError('CONFIG_INVALID', `feature view ${dup} is defined twice`);
    this.views = options.views;
    this.log = options.logger ?? defaultLogger();
    this.guard = new FeatureStoreGuard({
      redis: this.redis,
      prefix: options.prefix ?? '',
      pool: () => {
        if (options.pool) return options.pool;
        this.ownPool ??= createPgPool(config.postgres.url, { max: 2 });
        return this.ownPool;
      },
      config,
      logger: this.log,
    });
    this.pipelines = options.views.map((view) => this.viewPipeline(view, options, config));
  }

  /** Group names, one per view version. */
  get groups(): string[] {
    return this.pipelines.map((p) => p.group);
  }

  get stats(): { processed: number; deadLettered: number } {
    return this.pipelines.reduce(
      (sum, p) => ({
        processed: sum.processed + p.stats.processed,
        deadLettered: sum.deadLettered + p.stats.deadLettered,
      }),
      { processed: 0, deadLettered: 0 },
    );
  }

  /** Checks each view's state in Redis first: one lost while the service was down is rebuilt (rebuild.ts). */
  async start(): Promise<void> {
    // Every view at once, each in its own group: one after another, a start took views × a group join
    // (~4 s each on a loaded 2-core box; six views passed the Redis fault suite's 60 s to start).
    await Promise.all(
      this.pipelines.map(async (p, i) => {
        await this.guard.check(this.views[i] as FeatureView, p.group);
        await p.start(); // resolves once its consumer joined the group (after a crash: the dead member's session)
        this.log.info({ group: p.group }, 'feature view pipeline started');
      }),
    );
    this.guard.probe(this.pipelines.map((p, i) => ({ view: this.views[i] as FeatureView, group: p.group })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.pipelines.map((p) => p.stop()));
    await this.guard.stop();
    await this.ownPool?.end().catch(() => {});
  }

  private viewPipeline(view: FeatureView, options: FeaturePipelineOptions, config: ResolvedConfig): Pipeline {
    const redis = this.redis as ReturnType<typeof registerScripts>;
    const prefix = options.prefix ?? '';
    const group = featureGroup(this.group, view);
    type Command = { keys: string[]; args: (string | number)[]; appended: number };
    // Each chunk's commands, flushed when it ends (keyed by the chunk's pass: a failed pass's are dropped).
    const pending = new WeakMap<ChunkPass, Command[]>();
    const apply = async (batch: Command[]): Promise<[Error | null, unknown][]> => {
      const pipeline = redis.pipeline();
      for (const c of batch)
        (pipeline as unknown as { accordApply(...a: unknown[]): void }).accordApply(
          c.keys.length,
          ...c.keys,
          ...c.args,
        );
      try {
        return ((await pipeline.exec()) ?? []) as [Error | null, unknown][];
      } catch (error) {
        throw new UnavailableError('REDIS_UNAVAILABLE', `feature update failed: ${describeError(error)}`, {
          cause: error,
        });
      }
    };
    const flush = async (batch: Command[]) => {
      if (batch.length === 0) return;
      // Redis lost the view (no marker): nothing was written; the rebuild is started, and the batch waits
      // until its replay is under way (the apply refuses meanwhile), then applies: its events are past the
      // replay's resume position (never committed), so the live path after the replay skips them by their
      // watermark, or they are the replay's to re-process. Sent again whole: every command is idempotent.
      let replies = await apply(batch);
      for (const until = Date.now() + 60_000; ; ) {
        const blocked = replies.find(([e]) => /^FEATURES_(LOST|REBUILDING)/.test(e?.message ?? ''));
        if (!blocked) break;
        if (blocked[0]?.message.startsWith('FEATURES_LOST'))
          await this.guard.lost(view, group, 'the apply found no marker');
        if (Date.now() > until)
          throw new AccordError(
            'FEATURES_REBUILDING',
            `${viewId(view)} is being rebuilt and its replay did not start within 60 s (${describeError(blocked[0])})`,
            { retriable: true },
          );
        await new Promise((r) => setTimeout(r, 250));
        replies = await apply(batch);
      }
      const failed = replies.find(([e]) => e);
      if (failed)
        throw new UnavailableError('REDIS_UNAVAILABLE', `feature update failed: ${describeError(failed[0])}`);
      if (this.telemetry.listening) {
        const visible = Date.now();
        this.telemetry.emit({
          type: 'features.written',
          group,
          updates: batch.length,
          endToEndMs: batch.map((c) => visible - c.appended),
        });
      }
    };
    return createPipeline({
      name: group,
      group,
      topics: view.topics,
      mode: options.mode ?? 'at-least-once',
      config,
      telemetry: this.telemetry,
      ...(options.pool ? { pool: options.pool } : {}),
      ...(options.catalog ? { catalog: options.catalog } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      chunkSize: 500,
      // The views' pipelines share the process's fetch budget (the config's fetch size): each fetches its
      // share, at least 64 KiB. Six views each fetching the whole budget held six times what one pipeline
      // does: the feature service peaked at 225–250 MB through a backlog (bench/service-memory.ts).
      fetchMaxBytes: Math.max(64 * 1024, Math.floor(config.kafka.fetchMaxBytes / options.views.length)),
      ...((options.mode ?? 'at-least-once') === 'at-least-once'
        ? { checkpointEveryMs: options.checkpointEveryMs ?? 250 }
        : {}),
      partitionsAtOnce: options.partitionsAtOnce ?? 1,
      handler: (event, ctx) => {
        const now = Date.now();
        const source =
          ctx.replay && ctx.replayId !== undefined
            ? { logId: ctx.logId, replayId: ctx.replayId }
            : { logId: ctx.logId };
        let commands = pending.get(ctx.chunk);
        if (!commands) {
          commands = [];
          pending.set(ctx.chunk, commands);
        }
        for (const c of applyCommands([view], event, prefix, now, source))
          commands.push({ ...c, appended: Number(event.timestamp) });
      },
      // One round trip per chunk (at most chunkSize events of one partition), before its checkpoint moves.
      // Never from the handler: a failed flush there would be charged to one event (retried alone, then
      // dead-lettered) while the commands of the events before it in the chunk were dropped unapplied.
      afterChunk: async (chunk) => {
        const commands = pending.get(chunk);
        pending.delete(chunk);
        if (commands) await flush(commands);
      },
    });
  }
}

export function createFeaturePipeline(options: FeaturePipelineOptions): FeaturePipelines {
  return new FeaturePipelines(options);
}

export interface FeatureReaderOptions {
  views: FeatureView[];
  prefix?: string;
  config?: ResolvedConfig;
  redis?: Redis;
  /** `features.read` (latency, staleness of each value read) for every read. */
  telemetry?: Telemetry;
}

/**
 * The read side, for every agent: values with their event time and staleness, one round trip for one
 * entity or many, a consistent snapshot per entity. A value past its TTL is missing, never served; when
 * Redis is down, reads fail fast with a retriable REDIS_UNAVAILABLE: agents never decide on silently
 * missing context.
 */
export class FeatureReader {
  readonly redis: ReturnType<typeof registerScripts>;
  private readonly prefix: string;
  private readonly byKey = new Map<string, FeatureView>();

  constructor(private readonly options: FeatureReaderOptions) {
    const config = options.config ?? resolveConfig();
    this.redis = registerScripts(options.redis ?? createRedis(config.redis.url, { failFast: true }));
    this.prefix = options.prefix ?? '';
    for (const v of options.views) {
      // `name@version` reads one version; a bare name reads the newest.
      this.byKey.set(`${v.entityType}:${v.name}@${v.version}`, v);
      const newest = this.byKey.get(`${v.entityType}:${v.name}`);
      if (!newest || newest.version < v.version) this.byKey.set(`${v.entityType}:${v.name}`, v);
    }
  }

  private views(entityType: string, names: string[]): FeatureView[] {
    return names.map((name) => {
      const view = this.byKey.get(`${entityType}:${name}`);
      if (!view)
        throw new AccordError('CONFIG_INVALID', `no feature view "${name}" for entity type ${entityType}`);
      return view;
    });
  }

  async get(
    entityType: string,
    entityId: string,
    names: string[],
    now = Date.now(),
  ): Promise<Record<string, FeatureResult>> {
    return (await this.getMany(entityType, [entityId], names, now)).get(entityId) ?? {};
  }

  async getMany(
    entityType: string,
    entityIds: string[],
    names: string[],
    now = Date.now(),
  ): Promise<Map<string, Record<string, FeatureResult>>> {
    const views = this.views(entityType, names);
    // Without it an agent would retry its event forever once the client gave up on a Redis that came back
    // late (found by the Redis fault suite under the fleet's load).
    await connectIfIdle(this.redis);
    if (this.redis.status !== 'ready' && this.redis.status !== 'connect') {
      throw new UnavailableError(
        'REDIS_UNAVAILABLE',
        `features cannot be read: Redis is ${this.redis.status}`,
      );
    }
    const started = performance.now();
    const result = await readFeatures(this.redis, this.prefix, views, entityIds, now, names);
    const telemetry = this.options.telemetry;
    if (telemetry?.listening) {
      const stalenessMs: number[] = [];
      for (const values of result.values())
        for (const v of Object.values(values)) if (!('missing' in v)) stalenessMs.push(v.staleness);
      telemetry.emit({
        type: 'features.read',
        entityType,
        entities: entityIds.length,
        latencyMs: performance.now() - started,
        stalenessMs,
      });
    }
    return result;
  }

  close(): void {
    this.redis.disconnect();
  }
}
