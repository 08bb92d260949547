import { type AccordOptions, type ResolvedConfig, resolveConfig } from './config';
import {
  type AnyEvents,
  type EventCatalog,
  PLATFORM_CATALOG,
  type PlatformTypes,
  type TypeMap,
} from './events/catalog';
import { EventPublisher, type PublisherOptions } from './events/publisher';
import {
  createFeaturePipeline,
  type FeaturePipelineOptions,
  type FeaturePipelines,
  FeatureReader,
  type FeatureReaderOptions,
} from './features';
import { createPgPool } from './infra/clients';
import type { SqlPool } from './infra/sql';
import { defineOwner } from './owners/owner';
import type { OwnerOptions } from './owners/types';
import { createPipeline, type Pipeline } from './pipelines/pipeline';
import type { PipelineOptions } from './pipelines/types';
import { createLogger, type Logger } from './telemetry/log';
import { meterTelemetry } from './telemetry/metrics';
import { currentOpenTelemetry } from './telemetry/otel';
import { Telemetry } from './telemetry/seam';
import { traceDeliveries } from './telemetry/tracing';

type Provided = 'config' | 'pool' | 'telemetry' | 'catalog' | 'logger';

/**
 * One context per process: the configuration, the clients (created on first use, shared, closed by
 * `close()`), and the telemetry seam. Pipelines, owners, feature pipelines, readers and publishers are
 * made from it in one style: their own options, nothing about clients.
 */
export interface Accord<Types extends TypeMap = AnyEvents> {
  readonly config: ResolvedConfig;
  /** The platform records plus the domain given to createAccord. */
  readonly catalog: EventCatalog<Types>;
  readonly telemetry: Telemetry;
  /** Structured logs of everything made from this context. */
  readonly logger: Logger;
  /** Postgres at DATABASE_URL (or `databaseUrl`), created on first use. */
  pool(): SqlPool;
  pipeline(options: Omit<PipelineOptions, Provided>): Pipeline;
  owner(options: Omit<OwnerOptions, Provided>): Pipeline;
  features(options: Omit<FeaturePipelineOptions, Provided>): FeaturePipelines;
  featureReader(options: Omit<FeatureReaderOptions, 'config' | 'telemetry'>): FeatureReader;
  publisher(options: Omit<PublisherOptions<Types>, 'config' | 'catalog'>): EventPublisher<Types>;
  /** Stops what it made (pipelines, feature pipelines) and closes the clients it created. Idempotent. */
  close(): Promise<void>;
}

/** A context of any domain, for code that uses only what every domain has (pipelines, owners, the pool). */
// biome-ignore lint/suspicious/noExplicitAny: whatever its catalog's type map
export type SomeAccord = Accord<any>;

export function createAccord<Types extends TypeMap = PlatformTypes>(
  options: AccordOptions & {
    poolSize?: number;
    telemetry?: Telemetry;
    catalog?: EventCatalog<Types>;
    logger?: Logger;
  } = {},
): Accord<Types> {
  const { poolSize, telemetry: given, catalog: domain, logger: givenLogger, ...accordOptions } = options;
  const catalog = domain ?? (PLATFORM_CATALOG as unknown as EventCatalog<Types>);
  const config = resolveConfig(accordOptions);
  const logger = givenLogger ?? createLogger({ level: config.log.level });
  const telemetry = given ?? new Telemetry();
  // Traces always (OpenTelemetry's no-op until a provider is registered); metrics once one is (otel.ts).
  traceDeliveries(telemetry);
  if (currentOpenTelemetry()) meterTelemetry(telemetry);
  let pool: SqlPool | undefined;
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
    catalog,
    telemetry,
    logger,
    pool: getPool,
    pipeline: (o) => track(createPipeline({ ...o, config, pool: getPool(), telemetry, catalog, logger })),
    owner: (o) => track(defineOwner({ ...o, config, pool: getPool(), telemetry, catalog, logger })),
    features: (o) => {
      const made = createFeaturePipeline({ ...o, config, pool: getPool(), telemetry, catalog, logger });
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
      const publisher = new EventPublisher<Types>({ ...o, config, catalog });
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
