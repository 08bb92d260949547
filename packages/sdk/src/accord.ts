import type { Pool } from 'pg';
import { type AccordOptions, type ResolvedConfig, resolveConfig } from './config';
import { EventPublisher, type PublisherOptions } from './events/publisher';
import {
  createFeaturePipeline,
  type FeaturePipelineOptions,
  type FeaturePipelines,
  FeatureReader,
  type FeatureReaderOptions,
} from './features';
import { createPgPool } from './infra/clients';
import { defineOwner } from './owners/owner';
import type { OwnerOptions } from './owners/types';
import { createPipeline, type Pipeline } from './pipelines/pipeline';
import type { PipelineOptions } from './pipelines/types';
import { Telemetry } from './telemetry/seam';

type Provided = 'config' | 'pool' | 'telemetry';

/**
 * One context per process: the configuration, the clients (created on first use, shared, closed by
 * `close()`), and the telemetry seam. Pipelines, owners, feature pipelines, readers and publishers are
 * made from it in one style: their own options, nothing about clients.
 */
export interface Accord {
  readonly config: ResolvedConfig;
  readonly telemetry: Telemetry;
  /** Postgres at DATABASE_URL (or `databaseUrl`), created on first use. */
  pool(): Pool;
  pipeline(options: Omit<PipelineOptions, Provided>): Pipeline;
  owner(options: Omit<OwnerOptions, Provided>): Pipeline;
  features(options: Omit<FeaturePipelineOptions, Provided>): FeaturePipelines;
  featureReader(options: Omit<FeatureReaderOptions, 'config' | 'telemetry'>): FeatureReader;
  publisher(options: Omit<PublisherOptions, 'config'>): EventPublisher;
  /** Stops what it made (pipelines, feature pipelines) and closes the clients it created. Idempotent. */
  close(): Promise<void>;
}

export function createAccord(
  options: AccordOptions & { poolSize?: number; telemetry?: Telemetry } = {},
): Accord {
  const { poolSize, telemetry: given, ...accordOptions } = options;
  const config = resolveConfig(accordOptions);
  const telemetry = given ?? new Telemetry();
  let pool: Pool | undefined;
  const stops: (() => Promise<void>)[] = [];
  let closing: Promise<void> | undefined;
  const getPool = () => {
    pool ??= createPgPool(config.postgres.url, { max: poolSize ?? 8 });
    return pool;
  };
  const track = <T extends { stop(): Promise<void> }>(made: T): T => {
    stops.push(() => made.stop());
    return made;
  };
  return {
    config,
    telemetry,
    pool: getPool,
    pipeline: (o) => track(createPipeline({ ...o, config, pool: getPool(), telemetry })),
    owner: (o) => track(defineOwner({ ...o, config, pool: getPool(), telemetry })),
    features: (o) => {
      const made = createFeaturePipeline({ ...o, config, pool: getPool(), telemetry });
      stops.push(async () => {
        await made.stop();
        made.redis.disconnect();
      });
      return made;
    },
    featureReader: (o) => {
      const reader = new FeatureReader({ ...o, config, telemetry });
      stops.push(async () => reader.close());
      return reader;
    },
    publisher: (o) => {
      const publisher = new EventPublisher({ ...o, config });
      stops.push(() => publisher.close());
      return publisher;
    },
    close: () => {
      closing ??= (async () => {
        for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
        await pool?.end().catch(() => {});
      })();
      return closing;
    },
  };
}
