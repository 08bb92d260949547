/**
 * OpenTelemetry started with nothing to take spans (no OTLP endpoint, no exporter): no tracer provider is
 * registered, so no span is built, and a message's trace context still passes through to what its
 * handling produces. With an exporter, spans are recorded as before.
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
  // Nothing incoming: nothing invented either.
  expect(await inSpan('orders process', {}, async () => currentTraceparent())).toBeNull();
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
