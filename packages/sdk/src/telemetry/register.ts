/**
 * Driver-level spans for free: OpenTelemetry's maintained instrumentations of kafkajs, pg, ioredis and
 * http patch those modules when they are required, so this module must be loaded before them, first
 * thing in a service's entry (`import '@accord/sdk/register'`) or with `node --require`. It only patches;
 * the spans record once startOpenTelemetry registers a tracer provider (the instrumentations reach it
 * through the API's proxy), and not at all when OTEL_SDK_DISABLED=true.
 */
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { carriedTrace } from './carried';

if (process.env.OTEL_SDK_DISABLED !== 'true') {
  registerInstrumentations({
    instrumentations: [
      new KafkaJsInstrumentation({
        // A message that carries its own context (a relayed decision event) keeps it: see carried.ts.
        producerHook: (_span, { message }) => {
          const own = message.headers ? carriedTrace.get(message.headers) : undefined;
          if (own && message.headers) message.headers.traceparent = own;
        },
      }),
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      // Scrapes and health checks are not worth a trace each.
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => /^\/(metrics|healthz|readyz)/.test(req.url ?? ''),
      }),
    ],
  });
}
