import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import type { ResolvedConfig } from '../config';
import { describeError } from '../errors';
import { createKafka } from '../infra/clients';
import type { SqlPool } from '../infra/sql';
import { executeReplay, planReplay } from '../ops/replay';
import { CheckpointStore } from '../pipelines/checkpoints';
import type { Logger } from '../telemetry/log';
import { epochKey, type FeatureView, viewId } from './views';

/**
 * Redis is derived state, and it can lose it: a restart without persistence, a FLUSHALL, a failover to an
 * empty replica. The checkpoints in Postgres still point past every event, so without a check the next
 * event would count from zero and agents would decide on wrong values with nothing to tell them.
 *
 * Each view version keeps a marker in Redis, `<prefix>accord:features:epoch:<view>@<version>`, a hash
 * (state ready | rebuilding, the rebuild's replay id, since). The apply script writes nothing when the
 * marker is missing (it answers FEATURES_LOST); readers report the view's values missing ('not-built',
 * 'rebuilding') until the marker says ready, and agents refuse to decide on them. The pipeline that notices
 * marks the view rebuilding (the first instance to do so wins), replays the view's group from the start of
 * retention (recorded in pipeline_replays and, per partition, as a 'store-lost' incident: `accord replays`,
 * `accord checkpoints`), and marks it ready once no partition still carries that replay.
 */
export class FeatureStoreGuard {
  private readonly rebuilds = new Map<string, Promise<void>>();
  private readonly watches = new Set<Promise<void>>();
  private admin: Promise<Admin> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: {
      redis: Redis;
      prefix: string;
      pool: () => SqlPool;
      config: ResolvedConfig;
      logger: Logger;
      /** How often a rebuild looks whether its replay is done (default 500 ms); markers are probed 4× slower. */
      intervalMs?: number;
    },
  ) {}

  /**
   * Before a view's pipeline starts: a marker that says ready is kept; a view never run (no checkpoints)
   * starts ready; checkpoints without a marker mean the state was lost while the service was down, and a
   * rebuild that was under way when a service stopped is watched to its end.
   */
  async check(view: FeatureView, group: string): Promise<void> {
    const key = epochKey(this.deps.prefix, view);
    const [state, replay] = await this.deps.redis.hmget(key, 'state', 'replay');
    if (state === 'ready') return;
    if (state === 'rebuilding' && replay) {
      this.watch(view, group, Number(replay));
      return;
    }
    if (state === null && (await new CheckpointStore(this.deps.pool()).list(group)).length === 0) {
      await this.deps.redis.hsetnx(key, 'state', 'ready');
      await this.deps.redis.hsetnx(key, 'since', String(Date.now()));
      return;
    }
    await this.lost(
      view,
      group,
      state === null ? 'no marker at start' : 'an earlier rebuild never started its replay',
      true,
    );
  }

  /** The view's state is gone: rebuild it, once per view however many chunks notice (resolves once the replay is under way). */
  lost(view: FeatureView, group: string, why: string, takeOver = false): Promise<void> {
    const running = this.rebuilds.get(group);
    if (running) return running;
    const started = this.rebuild(view, group, why, takeOver).finally(() => this.rebuilds.delete(group));
    this.rebuilds.set(group, started);
    return started;
  }

  /**
   * Looks at every view's marker every few intervals while running: a view whose topics are quiet applies
   * nothing, and would otherwise stay unbuilt (readers told 'not-built') until its next event.
   */
  probe(entries: { view: FeatureView; group: string }[]): void {
    const probing = (async () => {
      while (!this.stopped) {
        await this.sleep((this.deps.intervalMs ?? 500) * 4);
        for (const { view, group } of entries) {
          if (this.stopped) return;
          try {
            if ((await this.deps.redis.exists(epochKey(this.deps.prefix, view))) === 0)
              await this.lost(view, group, 'its marker vanished');
          } catch (error) {
            // Redis unreachable: the pipelines report it; the next probe looks again.
            this.deps.logger.debug(
              { view: viewId(view), error: describeError(error) },
              'marker probe failed',
            );
          }
        }
      }
    })();
    this.watches.add(probing);
    probing.finally(() => this.watches.delete(probing));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.sleepers) wake();
    await Promise.allSettled([...this.rebuilds.values(), ...this.watches]);
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect().catch(() => {});
  }

  private async rebuild(view: FeatureView, group: string, why: string, takeOver: boolean): Promise<void> {
    const { redis, logger } = this.deps;
    const key = epochKey(this.deps.prefix, view);
    // The claim: one instance replays; the others find the marker claimed and wait for its replay (their
    // applies are refused until it is recorded). A claim left without a replay by an instance that died is
    // taken over by the next feature service to start (`check`).
    const claimed = await redis.hsetnx(key, 'state', 'rebuilding');
    if (!claimed && !takeOver) return;
    await redis.hset(key, 'since', String(Date.now()), 'reason', why);
    logger.warn(
      { view: viewId(view), group, why },
      'the feature store lost this view: rebuilding it by a replay from the start of retention; readers get missing (rebuilding) meanwhile',
    );
    const pool = this.deps.pool();
    let id: number | undefined;
    for (let attempt = 1; id === undefined; attempt++) {
      try {
        const admin = await this.connectAdmin();
        const plan = await planReplay(
          admin,
          pool,
          group,
          { kind: 'earliest' },
          undefined,
          this.deps.config.kafka,
        );
        id = await executeReplay(admin, pool, plan, `accord features (redis lost ${viewId(view)}: ${why})`);
        const store = new CheckpointStore(pool);
        for (const p of plan.partitions)
          await store.recordIncident({
            pipeline: group,
            group,
            topic: p.topic,
            partition: p.partition,
            kind: 'store-lost',
            action: 'moved',
            checkpoint: p.from,
            movedTo: p.to,
            detail: `Redis lost ${viewId(view)} (${why}): replay ${id} rebuilds it from offset ${p.to}`,
          });
      } catch (error) {
        // Kafka or Postgres unavailable, or a checkpoint moved between the plan and its execution (the
        // pipeline is running): this instance holds the claim, so it tries again until it is stopped.
        if (this.stopped) throw error;
        logger.warn(
          { view: viewId(view), group, attempt, error: describeError(error) },
          'the rebuild could not start its replay yet; trying again',
        );
        await this.sleep(Math.min(5000, 250 * attempt));
      }
    }
    await redis.hset(key, 'replay', String(id));
    this.watch(view, group, id);
  }

  /** Marks the view ready once no partition of its group is replaying (this replay, or any other since). */
  private watch(view: FeatureView, group: string, replayId: number): void {
    const key = epochKey(this.deps.prefix, view);
    const done = (async () => {
      // One last look after stop: a replay finished just before is marked ready rather than left rebuilding.
      for (;;) {
        try {
          const { rows } = await this.deps
            .pool()
            .query<{ n: number }>(
              'select count(*)::int as n from pipeline_checkpoints where consumer_group = $1 and replay_resume is not null',
              [group],
            );
          if (rows[0]?.n === 0) {
            // Only if the marker is still this rebuild's (Redis may have lost it again meanwhile).
            const marked = await this.deps.redis.eval(READY, 1, key, String(replayId), String(Date.now()));
            if (marked === 1)
              this.deps.logger.info(
                { view: viewId(view), group, replay: replayId },
                'feature view rebuilt: ready',
              );
            return;
          }
        } catch (error) {
          this.deps.logger.warn(
            { view: viewId(view), group, error: describeError(error) },
            'cannot tell whether the rebuild is done yet; looking again',
          );
        }
        if (this.stopped) return;
        await this.sleep(this.deps.intervalMs ?? 500);
      }
    })();
    this.watches.add(done);
    done.finally(() => this.watches.delete(done));
  }

  private readonly sleepers = new Set<() => void>();

  /** A wait that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private connectAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = createKafka(this.deps.config).admin();
      await admin.connect();
      return admin;
    })();
    this.admin.catch(() => {
      this.admin = undefined;
    });
    return this.admin;
  }
}

const READY = `
if redis.call('HGET', KEYS[1], 'replay') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'ready', 'since', ARGV[2])
redis.call('HDEL', KEYS[1], 'replay', 'reason')
return 1
`;
