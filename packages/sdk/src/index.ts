/**
 * @accord/sdk: the public face of the SDK. Everything another package may use is exported here.
 */

export * from './config';
export * from './contracts';
export * from './errors';
export * from './events';
export * from './features';
export * from './infra/clients';
export * from './infra/health';
export { fetchLogIdentity, type LogIdentity, type TopicIdentity } from './infra/kafka-metadata';
export * from './infra/migrations';
export * from './infra/pg-errors';
export { isTransient, withRetry } from './infra/retry';
export * from './infra/service';
export * from './owners';
export * from './pipelines';
export * from './schemas';
export * from './telemetry/histogram';
export * from './telemetry/seam';
