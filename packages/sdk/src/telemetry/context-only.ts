import {
  type Context,
  context,
  type Span,
  type SpanOptions,
  TraceFlags,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace';

/**
 * The tracer of a process that exports no spans (otel.ts). It records nothing and builds no span: a span
 * started under a trace context is that context (passed through to what the work produces), and one started
 * without any begins a new sampled trace context, so what this process originates (an event published, an
 * operator's `accord publish`) still starts a trace its consumers continue and export. An SDK tracer
 * provider without a processor did the same by building every span and dropping it: in the feature
 * service that was 30% of all it allocated (docs/observability.md).
 */
class ContextOnlyTracer implements Tracer {
  private readonly ids = new RandomIdGenerator();

  startSpan(_name: string, options?: SpanOptions, ctx: Context = context.active()): Span {
    const parent = options?.root ? undefined : trace.getSpanContext(ctx);
    if (parent && trace.isSpanContextValid(parent)) return trace.wrapSpanContext(parent);
    return trace.wrapSpanContext({
      traceId: this.ids.generateTraceId(),
      spanId: this.ids.generateSpanId(),
      // Sampled, as the SDK's default sampler marked it: consumers that export (parent-based) record theirs.
      traceFlags: TraceFlags.SAMPLED,
    });
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length >= 2 ? (rest[0] as SpanOptions | undefined) : undefined;
    const ctx = rest.length >= 3 ? ((rest[1] as Context | undefined) ?? context.active()) : context.active();
    const span = this.startSpan(name, options, ctx);
    return context.with(trace.setSpan(ctx, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}

export class ContextOnlyTracerProvider implements TracerProvider {
  private readonly tracer = new ContextOnlyTracer();
  getTracer(): Tracer {
    return this.tracer;
  }
}
