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
  return createKafka(config).consumer({
    groupId: group,
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
    maxBytes: fetchMaxBytes,
    maxBytesPerPartition: fetchMaxBytes,
    ...consumerTimings(config),
  });
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
