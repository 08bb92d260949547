import type { Consumer } from 'kafkajs';
import type { ResolvedConfig } from '../config';
import { consumerTimings, createKafka } from '../infra/clients';
import { AvroSerde } from '../schemas/serde';
import type { PipelineOptions } from './types';

/** A pipeline's consumer in its group: manual commits (the table is the truth), bounded fetches. */
export function pipelineConsumer(config: ResolvedConfig, group: string, options: PipelineOptions): Consumer {
  // What one fetch may bring, all partitions together: a backlog is read in slices of this size, so what a
  // process holds does not grow with it (bench/scaling: kafkajs' 10 MB fetches held ~270 MB of heap; 1 MiB
  // keeps a pipeline under 150 MB RSS with V8's heap bounded, at ~20% of throughput).
  const fetchMaxBytes = options.fetchMaxBytes ?? config.kafka.fetchMaxBytes;
  const consumer = createKafka(config).consumer({
    groupId: group,
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
    maxBytes: fetchMaxBytes,
    maxBytesPerPartition: fetchMaxBytes,
    ...consumerTimings(config),
  });
  return withoutDriverSpans(consumer);
}

/**
 * A pipeline makes its batches' `receive` and its records' `process` spans itself (telemetry/tracing.ts:
 * parented by each record's headers, linked to its batch). OpenTelemetry's kafkajs instrumentation, when
 * loaded (`@accord/sdk/register`), wraps `consumer.run` to make the same two spans again, a span and a
 * histogram record per message, all held until the batch ends: in the feature service (six pipelines)
 * that cost a third of its events/s and 15–40 MB at peak (bench/service-memory.ts). Its wrapper keeps the
 * original `run` (shimmer's `__original`), which a pipeline's consumer uses; producers keep their
 * driver-level `send` spans.
 */
function withoutDriverSpans(consumer: Consumer): Consumer {
  const original = (consumer.run as { __original?: Consumer['run'] }).__original;
  if (typeof original === 'function') consumer.run = original.bind(consumer);
  return consumer;
}

/** Decodes with the catalog's current shapes (unless decode: false or a serde is given). */
export function pipelineSerde(options: PipelineOptions, config: ResolvedConfig): AvroSerde | undefined {
  if (options.decode === false) return undefined;
  return (
    options.serde ??
    new AvroSerde({
      registryUrl: config.schemaRegistry.url,
      ...(options.catalog ? { catalog: options.catalog } : {}),
    })
  );
}
