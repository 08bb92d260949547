/**
 * OpenTelemetry started with nothing to take spans (no OTLP endpoint, no exporter): the context-only tracer
 * builds no span; a message's trace context passes through to what its handling produces, and work with
 * none starts a sampled trace its consumers continue. With an exporter, spans are recorded as before.
 */
import { extractTrace, injectTrace, inSpan, type OpenTelemetry, startOpenTelemetry } from '@accord/sdk';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
let otel: OpenTelemetry | undefined;
const currentTraceparent = () => injectTrace({}).traceparent ?? null;

afterEach(async () => {
  await otel?.shutdown();
  otel = undefined;
});

test('without an exporter nothing is recorded, and the incoming trace context passes through', async () => {
  otel = startOpenTelemetry({ serviceName: 'otel-test', env: {} });
  const seen = await inSpan(
    'orders process',
    { parent: extractTrace({ traceparent: INCOMING }) },
    async () => ({
      recording: trace.getActiveSpan()?.isRecording(),
      traceparent: currentTraceparent(),
      headers: injectTrace({}),
    }),
  );
  expect(seen).toEqual({ recording: false, traceparent: INCOMING, headers: { traceparent: INCOMING } });
});

test('without an exporter, work with no trace context still starts a sampled trace that its consumers continue', async () => {
  otel = startOpenTelemetry({ serviceName: 'otel-test', env: {} });
  const [first, second] = await Promise.all([
    inSpan('publish', {}, async () => ({
      recording: trace.getActiveSpan()?.isRecording(),
      traceparent: currentTraceparent(),
    })),
    inSpan('publish', {}, async () => ({ recording: false, traceparent: currentTraceparent() })),
  ]);
  expect(first?.recording).toBe(false);
  expect(first?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  // Each begins its own trace.
  expect(second?.traceparent?.slice(3, 35)).not.toBe(first?.traceparent?.slice(3, 35));
  // A consumer that exports records its span in that trace, as the producer's child.
  await otel.shutdown();
  const memory = new InMemorySpanExporter();
  otel = startOpenTelemetry({ serviceName: 'otel-test-consumer', spanExporters: [memory], env: {} });
  await inSpan(
    'orders process',
    { parent: extractTrace({ traceparent: first?.traceparent ?? '' }) },
    async () => {},
  );
  const [span] = memory.getFinishedSpans();
  expect(`00-${span?.spanContext().traceId}-${span?.parentSpanContext?.spanId}-01`).toBe(first?.traceparent);
});

test('with an exporter each span is recorded in the incoming trace, as its child', async () => {
  const memory = new InMemorySpanExporter();
  otel = startOpenTelemetry({ serviceName: 'otel-test', spanExporters: [memory], env: {} });
  const traceparent = await inSpan(
    'orders process',
    { parent: extractTrace({ traceparent: INCOMING }) },
    async () => currentTraceparent(),
  );
  const [span] = memory.getFinishedSpans();
  expect(span?.name).toBe('orders process');
  expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
  expect(traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${span?.spanContext().spanId}-01`);
});
