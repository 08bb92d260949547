import { AccordError } from '../errors';
import type { OutOfRangePolicy } from './log-check';
import type { PipelineMode, PipelineOptions } from './types';

/** Checks a pipeline's options at construction, naming the option that is wrong; returns the resolved ones. */
export function checkPipelineOptions(options: PipelineOptions): {
  mode: PipelineMode;
  policy: OutOfRangePolicy;
} {
  if (!options.name || !/^[A-Za-z0-9._-]{1,200}$/.test(options.name)) {
    throw new AccordError(
      'PIPELINE_INVALID',
      `option name must be 1-200 characters of letters, digits, '.', '_' or '-', got "${options.name}"`,
    );
  }
  if (typeof options.handler !== 'function' && options.window === undefined)
    throw new AccordError('PIPELINE_INVALID', 'option handler must be a function (or give option window)');
  if (
    !(options.topics instanceof RegExp) &&
    (!Array.isArray(options.topics) || options.topics.length === 0)
  ) {
    throw new AccordError(
      'PIPELINE_INVALID',
      'option topics must be a non-empty array of topic names or a RegExp',
    );
  }
  const mode = options.mode ?? 'at-least-once';
  if (mode !== 'at-least-once' && mode !== 'transactional') {
    throw new AccordError(
      'PIPELINE_INVALID',
      `option mode must be 'at-least-once' or 'transactional', got "${String(mode)}"`,
    );
  }
  const policy = options.onOutOfRange ?? (mode === 'transactional' ? 'fail' : 'earliest');
  if (policy !== 'fail' && policy !== 'earliest') {
    throw new AccordError(
      'PIPELINE_INVALID',
      `option onOutOfRange must be 'fail' or 'earliest', got "${String(policy)}"`,
    );
  }
  return { mode, policy };
}
