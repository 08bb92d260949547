import type { Redis } from 'ioredis';
import { AccordError, describeError, UnavailableError } from '../errors';
import type { PipelineEvent } from '../pipelines/pipeline';
import {
  bucketMs,
  bucketsAt,
  epochKey,
  type FeatureView,
  offsetsKey,
  setKey,
  stateKey,
  viewId,
} from './views';

/**
 * Applies one event's effects on one entity's features atomically, once per view version:
 * - outside a replay, the entity's offsets hash keeps the last offset applied per view version and
 *   topic-partition (field `op.f`), so a redelivered event changes nothing and each view version keeps
 *   its own progress;
 * - inside a replay (ARGV[4], the replay's id), the replay recomputes: the first time it touches a state
 *   key the key starts over (`rp` records the replay), and a redelivery within the replay is skipped by
 *   the last offset it applied there from that topic-partition (`ro:<view>:<topic>:<partition>`);
 * - TTL is on event time: a gap longer than the TTL between two events starts the value over, and
 *   readers hide a value whose event time is older than the TTL. Redis expiry (write time + TTL) only
 *   collects garbage, so a rebuild yields the same values and the same expiry.
 * - nothing is written when a view's marker (the keys after the ops', see rebuild.ts) is missing: Redis
 *   lost its data, and counting on from zero would serve wrong values as if they were whole; nor while a
 *   rebuild waits for its replay to be recorded (a write then would be wiped by the replay's reset while
 *   its watermark stayed, and its event skipped when delivered again: lost).
 * - the replay that rebuilds a lost view (the marker's `replay`) resets nothing: the store started empty,
 *   and partitions that finished their replay apply live events meanwhile to keys another partition's
 *   replay has not touched yet (entities fed from several partitions), which a reset would wipe.
 */
const APPLY = `
local offset = tonumber(ARGV[1])
local now = ARGV[2]
local ops = cjson.decode(ARGV[3])
local token = ARGV[4]
local applied = 0
local rebuilding = {}
for i = 2 * #ops + 2, #KEYS do
  local state = redis.call('HGET', KEYS[i], 'state')
  if not state then return redis.error_reply('FEATURES_LOST ' .. KEYS[i]) end
  if state ~= 'ready' then
    local replay = redis.call('HGET', KEYS[i], 'replay')
    if not replay then return redis.error_reply('FEATURES_REBUILDING ' .. KEYS[i] .. ' waits for its replay') end
    rebuilding[KEYS[i]] = replay
  end
end
for i, op in ipairs(ops) do
  local key = KEYS[2 * i]
  local set = KEYS[2 * i + 1]
  local skip = false
  if token == '' then
    local last = redis.call('HGET', KEYS[1], op.f)
    if last and tonumber(last) >= offset then skip = true end
  elseif rebuilding[op.e] ~= token and redis.call('HGET', key, 'rp') ~= token then
    redis.call('DEL', key, set)
  else
    local ro = redis.call('HGET', key, 'ro:' .. op.f)
    if ro and tonumber(ro) >= offset then skip = true end
  end
  if not skip then
    if op.l then
      local asof = redis.call('HGET', key, 't')
      if asof and tonumber(op.t) - tonumber(asof) > tonumber(op.l) then redis.call('DEL', key, set) end
    end
    local agg = op.a
    if agg == 'count' then
      redis.call('HINCRBY', key, 'n', 1)
    elseif agg == 'sum' then
      redis.call('HINCRBYFLOAT', key, 's', op.v)
    elseif agg == 'avg' then
      redis.call('HINCRBYFLOAT', key, 's', op.v)
      redis.call('HINCRBY', key, 'n', 1)
    elseif agg == 'min' then
      local cur = redis.call('HGET', key, 'v')
      if (not cur) or tonumber(op.v) < tonumber(cur) then redis.call('HSET', key, 'v', op.v) end
    elseif agg == 'max' then
      local cur = redis.call('HGET', key, 'v')
      if (not cur) or tonumber(op.v) > tonumber(cur) then redis.call('HSET', key, 'v', op.v) end
    elseif agg == 'last' then
      local ct = redis.call('HGET', key, 'lt')
      if (not ct) or tonumber(op.t) >= tonumber(ct) then redis.call('HSET', key, 'v', op.v, 'lt', op.t) end
    elseif agg == 'distinct' then
      redis.call('SADD', set, op.v)
      redis.call('HSET', key, 'n', redis.call('SCARD', set))
    end
    local asof = redis.call('HGET', key, 't')
    if (not asof) or tonumber(op.t) > tonumber(asof) then redis.call('HSET', key, 't', op.t) end
    redis.call('HSET', key, 'w', now)
    if token ~= '' then redis.call('HSET', key, 'rp', token, 'ro:' .. op.f, offset) end
    if op.x then
      redis.call('PEXPIREAT', key, op.x)
      if agg == 'distinct' then redis.call('PEXPIREAT', set, op.x) end
    elseif op.l then
      redis.call('PEXPIRE', key, op.l)
      if agg == 'distinct' then redis.call('PEXPIRE', set, op.l) end
    end
    local last = redis.call('HGET', KEYS[1], op.f)
    if (not last) or tonumber(last) < offset then redis.call('HSET', KEYS[1], op.f, offset) end
    applied = applied + 1
  end
end
return applied
`;

/** Reads every key of one entity in one atomic step: a consistent snapshot. ARGV[i] = '1' when KEYS[i] is a set. */
const READ = `
local out = {}
for i, key in ipairs(KEYS) do
  if ARGV[i] == '1' then out[i] = redis.call('SMEMBERS', key) else out[i] = redis.call('HGETALL', key) end
end
return out
`;

export interface FeatureValue {
  value: number | string | null;
  /** Event time the value reflects (ms). */
  asOf: number;
  /** When the pipeline wrote it (ms). */
  writtenAt: number;
  /** Read time minus event time (ms). */
  staleness: number;
  /** Staleness above the view's freshness objective. */
  stale: boolean;
}

export type FeatureResult =
  | FeatureValue
  | {
      missing: true;
      /** not-built: no marker (Redis lost its data, or no feature pipeline ran); rebuilding: a replay is rebuilding the view. */
      reason: 'never-computed' | 'expired' | 'out-of-window' | 'not-built' | 'rebuilding';
    };

/** The view's whole state is unavailable: agents must not decide on it (see rebuild.ts). */
export function storeLost(result: FeatureResult): boolean {
  return 'missing' in result && (result.reason === 'not-built' || result.reason === 'rebuilding');
}

interface Op {
  /** The watermark field: view version and topic-partition. */
  f: string;
  /** The view's marker key (rebuild.ts). */
  e: string;
  a: string;
  v?: string;
  t: number;
  x?: number;
  l?: number;
}

export function registerScripts(redis: Redis): Redis & {
  accordApply(...args: (string | number)[]): Promise<number>;
  accordRead(...args: (string | number)[]): Promise<unknown[]>;
} {
  const r = redis as Redis & { accordApply?: unknown; accordRead?: unknown };
  if (!r.accordApply) {
    redis.defineCommand('accordApply', { lua: APPLY });
    redis.defineCommand('accordRead', { lua: READ });
  }
  return redis as ReturnType<typeof registerScripts>;
}

/**
 * The Redis commands (one per entity touched) that apply an event to the views; none when nothing applies.
 * `logId` names the log the offsets belong to (watermarks never compare offsets of two logs: after a
 * rebind to a new log, its events apply); `replayId` is set while the event is re-processed by a replay:
 * the replay recomputes what it touches.
 */
export function applyCommands(
  views: FeatureView[],
  event: PipelineEvent,
  prefix: string,
  now: number,
  source: { logId: string; replayId?: number },
): { keys: string[]; args: (string | number)[] }[] {
  const replayId = source.replayId;
  const eventType = event.schemaName ?? '';
  const envelope = (event.value?.envelope ?? {}) as { entityId?: string; occurredAt?: number };
  const t = typeof envelope.occurredAt === 'number' ? envelope.occurredAt : Number(event.timestamp);
  const byEntity = new Map<
    string,
    { entityType: string; entityId: string; ops: Op[]; keys: string[]; epochs: Set<string> }
  >();
  for (const view of views) {
    if (!view.topics.includes(event.topic)) continue;
    if (view.eventTypes && !view.eventTypes.includes(eventType)) continue;
    const entityId = view.entityId ? view.entityId(event) : envelope.entityId;
    if (entityId === undefined || entityId === null || entityId === '') continue;
    let v: string | undefined;
    if (view.aggregation !== 'count') {
      const raw = view.value?.(event);
      if (raw === undefined || raw === null) continue;
      if (view.aggregation !== 'last' && view.aggregation !== 'distinct' && !Number.isFinite(Number(raw)))
        continue;
      v = String(raw);
    }
    const op: Op = {
      f: `${viewId(view)}:${event.topic}@${source.logId}:${event.partition}`,
      e: epochKey(prefix, view),
      a: view.aggregation,
      t,
      ...(v === undefined ? {} : { v }),
    };
    let key: string;
    if (view.window) {
      const size = bucketMs(view);
      const bucket = Math.floor(t / size) * size;
      const expireAt = bucket + size + view.window.sizeSeconds * 1000;
      if (expireAt <= now) continue; // already outside every window a read could ask for
      op.x = expireAt;
      key = stateKey(prefix, view, String(entityId), bucket);
    } else {
      if (view.ttlSeconds) op.l = view.ttlSeconds * 1000;
      key = stateKey(prefix, view, String(entityId));
    }
    const id = `${view.entityType}\u0000${entityId}`;
    const entry = byEntity.get(id) ?? {
      entityType: view.entityType,
      entityId: String(entityId),
      ops: [],
      keys: [],
      epochs: new Set<string>(),
    };
    entry.ops.push(op);
    entry.keys.push(key, setKey(key));
    entry.epochs.add(epochKey(prefix, view));
    byEntity.set(id, entry);
  }
  return [...byEntity.values()].map((e) => ({
    keys: [offsetsKey(prefix, e.entityType, e.entityId), ...e.keys, ...e.epochs],
    args: [event.offset, now, JSON.stringify(e.ops), replayId === undefined ? '' : String(replayId)],
  }));
}

function hash(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const list = Array.isArray(flat) ? (flat as string[]) : [];
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}

/** Reads a set of views for many entities in one round trip; each entity's read is one atomic snapshot. */
export async function readFeatures(
  redis: ReturnType<typeof registerScripts>,
  prefix: string,
  views: FeatureView[],
  entityIds: string[],
  now: number,
  names: string[] = views.map((v) => v.name),
): Promise<Map<string, Record<string, FeatureResult>>> {
  const plans = entityIds.map((id) => {
    const keys: string[] = [];
    const isSet: string[] = [];
    const layout = views.map((view, index) => {
      const buckets = view.window ? bucketsAt(view, now) : [undefined];
      const start = keys.length;
      for (const b of buckets) {
        const k = stateKey(prefix, view, id, b);
        keys.push(k);
        isSet.push('0');
        if (view.aggregation === 'distinct' && view.window) {
          keys.push(setKey(k));
          isSet.push('1');
        }
      }
      return { view, name: names[index] ?? view.name, start, end: keys.length };
    });
    return { id, keys, isSet, layout };
  });
  let replies: [Error | null, unknown][];
  try {
    const pipeline = redis.pipeline();
    for (const p of plans)
      (pipeline as unknown as { accordRead(...a: unknown[]): void }).accordRead(
        p.keys.length,
        ...p.keys,
        ...p.isSet,
      );
    // Each view's marker, read after the values on the same connection: a marker still whole then means
    // the values were read before any loss (Redis runs one connection's commands in order).
    for (const view of views) pipeline.hget(epochKey(prefix, view), 'state');
    replies = ((await pipeline.exec()) ?? []) as [Error | null, unknown][];
  } catch (error) {
    throw new UnavailableError(
      'REDIS_UNAVAILABLE',
      `features cannot be read: Redis is unavailable (${describeError(error)})`,
      { cause: error },
    );
  }
  const markers = views.map((_, v) => {
    const [error, state] = replies[plans.length + v] ?? [new Error('no reply'), null];
    if (error)
      throw new UnavailableError('REDIS_UNAVAILABLE', `features cannot be read: ${describeError(error)}`, {
        cause: error,
      });
    return state as string | null;
  });
  const result = new Map<string, Record<string, FeatureResult>>();
  plans.forEach((plan, i) => {
    const [error, reply] = replies[i] ?? [new Error('no reply'), null];
    if (error)
      throw new UnavailableError('REDIS_UNAVAILABLE', `features cannot be read: ${describeError(error)}`, {
        cause: error,
      });
    const parts = reply as unknown[];
    const out: Record<string, FeatureResult> = {};
    for (const [v, { view, name, start, end }] of plan.layout.entries()) {
      if (markers[v] !== 'ready') {
        out[name] = { missing: true, reason: markers[v] === 'rebuilding' ? 'rebuilding' : 'not-built' };
        continue;
      }
      const states: Record<string, string>[] = [];
      const members = new Set<string>();
      for (let k = start; k < end; k++) {
        if (plan.isSet[k] === '1') for (const m of (parts[k] as string[]) ?? []) members.add(m);
        else {
          const h = hash(parts[k]);
          if (Object.keys(h).length) states.push(h);
        }
      }
      out[name] = combine(view, states, members, now);
    }
    result.set(plan.id, out);
  });
  return result;
}

function combine(
  view: FeatureView,
  states: Record<string, string>[],
  members: Set<string>,
  now: number,
): FeatureResult {
  if (states.length === 0) return { missing: true, reason: view.window ? 'out-of-window' : 'never-computed' };
  const asOf = Math.max(...states.map((s) => Number(s.t ?? 0)));
  const writtenAt = Math.max(...states.map((s) => Number(s.w ?? 0)));
  // TTL on event time: the same answer whenever the value was computed (live or rebuilt).
  if (!view.window && view.ttlSeconds && now - asOf > view.ttlSeconds * 1000)
    return { missing: true, reason: 'expired' };
  const num = (k: string) => states.reduce((sum, s) => sum + Number(s[k] ?? 0), 0);
  let value: number | string | null;
  switch (view.aggregation) {
    case 'count':
      value = num('n');
      break;
    case 'sum':
      value = num('s');
      break;
    case 'avg': {
      const n = num('n');
      value = n === 0 ? null : num('s') / n;
      break;
    }
    case 'min':
      value = Math.min(...states.map((s) => Number(s.v)));
      break;
    case 'max':
      value = Math.max(...states.map((s) => Number(s.v)));
      break;
    case 'last': {
      const latest = states.reduce((a, b) => (Number(b.lt ?? 0) >= Number(a.lt ?? 0) ? b : a));
      const raw = latest.v ?? null;
      value = raw !== null && raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
      break;
    }
    case 'distinct':
      value = view.window ? members.size : num('n');
      break;
    default:
      throw new AccordError('CONFIG_INVALID', `unknown aggregation in ${viewId(view)}`);
  }
  const staleness = Math.max(0, now - asOf);
  return {
    value,
    asOf,
    writtenAt,
    staleness,
    stale: view.freshnessSeconds !== undefined && staleness > view.freshnessSeconds * 1000,
  };
}
