import { AccordError } from '../errors';
import type { PipelineEvent } from '../pipelines/pipeline';

export const AGGREGATIONS = ['count', 'sum', 'avg', 'min', 'max', 'last', 'distinct'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export interface FeatureWindow {
  /** tumbling: the current window of `sizeSeconds`; sliding: the last `sizeSeconds`, in `buckets` steps. */
  kind: 'tumbling' | 'sliding';
  sizeSeconds: number;
  /** Sliding windows only: how many buckets the window is cut into (default 12). */
  buckets?: number;
}

/**
 * A feature view, declared in code: one computation, from the event stream, served to every agent.
 * Changing the definition means a new `version`: both are computed side by side until readers move.
 */
export interface FeatureView {
  name: string;
  version: number;
  entityType: string;
  description?: string;
  topics: string[];
  /** Only these event types (full names); default: every event on the topics. */
  eventTypes?: string[];
  /** Which entity an event feeds (default: the event's entity id). */
  entityId?: (event: PipelineEvent) => string | undefined | null;
  aggregation: Aggregation;
  /** The value aggregated (not needed for count). Return undefined to skip the event. */
  value?: (event: PipelineEvent) => number | string | undefined | null;
  /** All time when absent. */
  window?: FeatureWindow;
  /** A value not updated for this long is reported missing, never served. */
  ttlSeconds?: number;
  /** Freshness objective: staleness above it is flagged on reads. */
  freshnessSeconds?: number;
}

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Validates a view at definition time; errors name the view and the field. */
export function defineFeatureView(view: FeatureView): FeatureView {
  const where = `feature view "${view?.name}"`;
  if (!view || typeof view.name !== 'string' || !NAME.test(view.name))
    throw new AccordError('CONFIG_INVALID', `${where}: name must match ${NAME}`);
  if (!Number.isInteger(view.version) || view.version < 1)
    throw new AccordError('CONFIG_INVALID', `${where}: version must be a positive integer`);
  if (!NAME.test(view.entityType ?? ''))
    throw new AccordError('CONFIG_INVALID', `${where}: entityType must match ${NAME}`);
  if (!Array.isArray(view.topics) || view.topics.length === 0)
    throw new AccordError('CONFIG_INVALID', `${where}: topics must list at least one topic`);
  if (!AGGREGATIONS.includes(view.aggregation))
    throw new AccordError(
      'CONFIG_INVALID',
      `${where}: aggregation must be one of ${AGGREGATIONS.join(', ')}`,
    );
  if (view.aggregation !== 'count' && typeof view.value !== 'function')
    throw new AccordError(
      'CONFIG_INVALID',
      `${where}: aggregation ${view.aggregation} needs a value function`,
    );
  if (view.window) {
    const { kind, sizeSeconds, buckets } = view.window;
    if (kind !== 'tumbling' && kind !== 'sliding')
      throw new AccordError('CONFIG_INVALID', `${where}: window.kind must be tumbling or sliding`);
    if (!Number.isInteger(sizeSeconds) || sizeSeconds < 1)
      throw new AccordError('CONFIG_INVALID', `${where}: window.sizeSeconds must be a positive integer`);
    if (buckets !== undefined && (!Number.isInteger(buckets) || buckets < 1 || sizeSeconds % buckets !== 0)) {
      throw new AccordError('CONFIG_INVALID', `${where}: window.buckets must divide window.sizeSeconds`);
    }
  }
  if (view.ttlSeconds !== undefined && (!Number.isInteger(view.ttlSeconds) || view.ttlSeconds < 1)) {
    throw new AccordError('CONFIG_INVALID', `${where}: ttlSeconds must be a positive integer`);
  }
  return view;
}

/** The bucket length in ms of a windowed view. */
export function bucketMs(view: FeatureView): number {
  if (!view.window) return 0;
  const buckets = view.window.kind === 'sliding' ? (view.window.buckets ?? 12) : 1;
  return (view.window.sizeSeconds / buckets) * 1000;
}

/** Start times of the buckets a read at `now` covers. */
export function bucketsAt(view: FeatureView, now: number): number[] {
  const size = bucketMs(view);
  const current = Math.floor(now / size) * size;
  if (view.window?.kind === 'tumbling') return [current];
  const count = view.window?.buckets ?? 12;
  // The last `count` buckets including the current one: events from (now - window, now].
  return Array.from({ length: count }, (_, i) => current - i * size);
}

export function viewId(view: FeatureView): string {
  return `${view.name}@${view.version}`;
}

/** Redis keys, under a prefix (tests use their own). {entity} is a hash tag: one entity's keys share a slot. */
export function stateKey(prefix: string, view: FeatureView, entityId: string, bucket?: number): string {
  return `${prefix}feat:{${view.entityType}:${entityId}}:${viewId(view)}${bucket === undefined ? '' : `:${bucket}`}`;
}

export function setKey(state: string): string {
  return `${state}:set`;
}

export function offsetsKey(prefix: string, entityType: string, entityId: string): string {
  return `${prefix}feat:{${entityType}:${entityId}}:offsets`;
}

/** The marker that says a view version's state in this Redis is whole (see rebuild.ts). */
export function epochKey(prefix: string, view: FeatureView): string {
  return `${prefix}accord:features:epoch:${viewId(view)}`;
}
