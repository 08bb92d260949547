import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { describeError } from '../errors';

/**
 * Accord's own semantic spans, on the OpenTelemetry API. Without a registered tracer provider (see
 * otel.ts) every call here is OpenTelemetry's no-op: a non-recording span, no header written. Nothing here
 * throws into business code: a failing tracer is stepped over, and the business error is rethrown as it was.
 */
export const TRACER_NAME = 'accord';

export { SpanKind };

/** Span attribute names Accord sets (docs/observability.md lists them). */
export const ATTR = {
  agent: 'accord.agent',
  entityType: 'accord.entity.type',
  entityId: 'accord.entity.id',
  eventId: 'accord.event.id',
  eventType: 'accord.event.type',
  proposalId: 'accord.proposal.id',
  decisionId: 'accord.decision.id',
  outcome: 'accord.decision.outcome',
  rule: 'accord.decision.reason',
  versionBefore: 'accord.entity.version_before',
  versionAfter: 'accord.entity.version_after',
  action: 'accord.proposal.action',
  pipeline: 'accord.pipeline',
  group: 'messaging.consumer.group.name',
  topic: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  offset: 'messaging.kafka.offset',
  system: 'messaging.system',
  attempt: 'accord.attempt',
  replay: 'accord.replay',
  staleness: 'accord.feature.staleness_ms',
  features: 'accord.features',
} as const;

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; default the active context. */
  parent?: Context;
  links?: Link[];
}

/**
 * Runs `fn` inside a new active span and ends it. An error from `fn` marks the span and is rethrown
 * unchanged; the span's own failures never reach `fn`'s caller.
 */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = safe(
    () =>
      trace.getTracer(TRACER_NAME).startSpan(
        name,
        {
          kind: options.kind ?? SpanKind.INTERNAL,
          ...(options.attributes ? { attributes: options.attributes } : {}),
          ...(options.links?.length ? { links: options.links } : {}),
        },
        parent,
      ),
    trace.wrapSpanContext(trace.getSpanContext(parent) ?? INVALID),
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    safe(() => {
      span.recordException(error instanceof Error ? error : new Error(describeError(error)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
    }, undefined);
    throw error;
  } finally {
    safe(() => span.end(), undefined);
  }
}

const INVALID = { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 };

/** The active context (to run later work, e.g. a chunk's deferred decisions, in the span it belongs to). */
export function activeContext(): Context {
  return context.active();
}

export type { Context };
export { ROOT_CONTEXT };

/** A link to the span active in `ctx`, if there is one. */
export function linkTo(ctx: Context): Link | undefined {
  const spanContext = trace.getSpanContext(ctx);
  return spanContext && trace.isSpanContextValid(spanContext) ? { context: spanContext } : undefined;
}

/** Sets attributes on the active span (no-op without one). */
export function annotate(attributes: Attributes): void {
  safe(() => trace.getActiveSpan()?.setAttributes(attributes), undefined);
}

/** Writes the context's trace headers (W3C `traceparent`, `tracestate`) into `headers` with the global propagator. */
export function injectTrace(
  headers: Record<string, string>,
  ctx: Context = context.active(),
): Record<string, string> {
  safe(() => propagation.inject(ctx, headers), undefined);
  return headers;
}

/** The context carried by a message's headers (the root context when it carries none). */
export function extractTrace(headers: Record<string, string> | undefined): Context {
  if (!headers) return ROOT_CONTEXT;
  return safe(() => propagation.extract(ROOT_CONTEXT, headers), ROOT_CONTEXT);
}

/** A link to the span a message's headers name, if they name one. */
export function linkFrom(headers: Record<string, string> | undefined): Link | undefined {
  return linkTo(extractTrace(headers));
}

/** The active span's W3C traceparent, or null when nothing is traced (stored with outbox rows). */
export function currentTraceparent(): string | null {
  const headers = injectTrace({});
  return headers.traceparent ?? null;
}

/** The active trace id, or null (recorded with agent runs so lineage and traces point at each other). */
export function currentTraceId(): string | null {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : null;
}

const traced = new WeakSet<object>();

/**
 * Traces deliveries through the seam: each batch is a `receive` span linked to the span of every record
 * it holds (up to 128), and each record's handling is a `process` span whose parent is the context its
 * headers carry (so the causal chain stays one trace across services), linked to its batch. Idempotent.
 */
export function traceDeliveries(telemetry: import('./seam').Telemetry): void {
  if (traced.has(telemetry)) return;
  traced.add(telemetry);
  telemetry.aroundBatch((ctx, next) => {
    const links: Link[] = [];
    for (const headers of ctx.headers().slice(0, 128)) {
      const link = linkFrom(headers);
      if (link) links.push(link);
    }
    return inSpan(
      `${ctx.topic} receive`,
      {
        kind: SpanKind.CONSUMER,
        parent: ROOT_CONTEXT,
        links,
        attributes: {
          [ATTR.system]: 'kafka',
          [ATTR.pipeline]: ctx.pipeline,
          [ATTR.group]: ctx.group,
          [ATTR.topic]: ctx.topic,
          [ATTR.partition]: String(ctx.partition),
          'messaging.batch.message_count': links.length,
        },
      },
      () => next(),
    );
  });
  telemetry.aroundHandle((ctx, next) => {
    const batch = trace.getActiveSpan()?.spanContext();
    return inSpan(
      `${ctx.topic} process`,
      {
        kind: SpanKind.CONSUMER,
        parent: extractTrace(ctx.headers),
        ...(batch && trace.isSpanContextValid(batch) ? { links: [{ context: batch }] } : {}),
        attributes: {
          [ATTR.system]: 'kafka',
          [ATTR.pipeline]: ctx.pipeline,
          [ATTR.group]: ctx.group,
          [ATTR.topic]: ctx.topic,
          [ATTR.partition]: String(ctx.partition),
          [ATTR.offset]: ctx.offset,
          [ATTR.attempt]: ctx.attempt,
          [ATTR.replay]: ctx.replay,
          ...(ctx.headers['accord-event-id'] ? { [ATTR.eventId]: ctx.headers['accord-event-id'] } : {}),
          ...(ctx.headers['accord-event-type'] ? { [ATTR.eventType]: ctx.headers['accord-event-type'] } : {}),
        },
      },
      () => next(),
    );
  });
}
