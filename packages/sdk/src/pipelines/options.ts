import { z } from 'zod';
import { fn, parseOptions } from '../validation';
import type { OutOfRangePolicy } from './log-check';
import type { PipelineMode, PipelineOptions } from './types';

const positiveInt = z.int().min(1, 'must be a positive integer');

// The options a pipeline's author writes; clients and objects (pool, serde, telemetry) are typed by TypeScript.
const Options = z
  .looseObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,200}$/, "must be 1-200 characters of letters, digits, '.', '_' or '-'"),
    group: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,200}$/, "must be 1-200 characters of letters, digits, '.', '_' or '-'")
      .optional(),
    topics: z.union(
      [
        z.array(z.string().min(1)).min(1, 'must be a non-empty array of topic names or a RegExp'),
        z.instanceof(RegExp),
      ],
      {
        error: 'must be a non-empty array of topic names or a RegExp',
      },
    ),
    handler: fn().optional(),
    window: z.looseObject({}).optional(),
    mode: z.enum(['at-least-once', 'transactional']).optional(),
    onOutOfRange: z.enum(['fail', 'earliest']).optional(),
    from: z.enum(['earliest', 'latest']).optional(),
    checkpoint: z.enum(['offset', 'timestamp']).optional(),
    decode: z.boolean().optional(),
    maxAttempts: positiveInt.optional(),
    retryBackoffMs: z.int().min(0).optional(),
    chunkSize: positiveInt.optional(),
    keyConcurrency: z.int().min(1).max(1024, 'must be at most 1024').optional(),
    checkpointEveryMs: z.int().min(0).max(60_000, 'must be at most 60000 (a minute)').optional(),
    partitionsAtOnce: z.int().min(1).max(64).optional(),
    fetchMaxBytes: z.int().min(1024).optional(),
    topicRefreshMs: positiveInt.optional(),
    afterChunk: fn().optional(),
  })
  .refine((o) => o.handler !== undefined || o.window !== undefined, {
    message: 'must be a function (or give option window)',
    path: ['handler'],
  })
  .refine((o) => (o.keyConcurrency ?? 1) === 1 || (o.mode !== 'transactional' && o.window === undefined), {
    message: 'applies to at-least-once pipelines only (a transactional chunk shares one transaction)',
    path: ['keyConcurrency'],
  })
  .refine((o) => !o.checkpointEveryMs || (o.mode !== 'transactional' && o.window === undefined), {
    message:
      'applies to at-least-once pipelines only (transactional and windowed ones checkpoint with their writes)',
    path: ['checkpointEveryMs'],
  });

/** Checks a pipeline's options at construction, naming the option that is wrong; returns the resolved ones. */
export function checkPipelineOptions(options: PipelineOptions): {
  mode: PipelineMode;
  policy: OutOfRangePolicy;
} {
  parseOptions('invalid pipeline options', Options, options, 'PIPELINE_INVALID');
  const mode = options.mode ?? 'at-least-once';
  const policy = options.onOutOfRange ?? (mode === 'transactional' ? 'fail' : 'earliest');
  return { mode, policy };
}
