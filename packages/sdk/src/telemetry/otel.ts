import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Counter, context, diag, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  type ExportResult,
  ExportResultCode,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { AccordError } from '../errors';
import { ContextOnlyTracerProvider } from './context-only';

/**
 * Starts OpenTelemetry for this process: the W3C propagators (trace context in Kafka headers), a tracer
 * provider exporting over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set (when
 * nothing would take its spans, a context-only tracer: trace contexts flow, no span is built), a meter
 * provider read by Prometheus (`/metrics`) and, with the same variables, pushed over OTLP. Services call
 * it through runService; tests give an in-memory exporter. Start it before creating the context: the
 * metrics read the global meter once. Export failures never reach business code: they are counted
 * (accord.telemetry.dropped) and the spans dropped.
 */
export interface OpenTelemetryOptions {
  /** service.name of every span and metric. */
  serviceName: string;
  /** Exporters given by the caller (e.g. InMemorySpanExporter), each behind a SimpleSpanProcessor. */
  spanExporters?: SpanExporter[];
  /** OTLP/HTTP base URL (e.g. http://127.0.0.1:4318). Default: the OTEL_EXPORTER_OTLP_* variables; none → no OTLP. */
  otlpEndpoint?: string;
  /** How often metrics are pushed over OTLP. Default 10 s. */
  metricIntervalMs?: number;
  env?: Record<string, string | undefined>;
}

export interface OpenTelemetry {
  readonly serviceName: string;
  /** Spans the exporters failed to deliver (collector down): dropped, counted. */
  dropped(): number;
  /** Why the last export failed (e.g. the collector refused the connection). */
  dropReason(): string | undefined;
  /** Answers a Prometheus scrape (text exposition format). */
  metricsHandler(req: IncomingMessage, res: ServerResponse): void;
  /** Serves `/metrics` (and `/healthz`) on host:port (0 → any free port); resolves with the port. */
  serveMetrics(port: number, host?: string): Promise<number>;
  forceFlush(): Promise<void>;
  /** Flushes, stops the exporters and the metrics server, and unregisters the globals. Idempotent. */
  shutdown(): Promise<void>;
}

let started: OpenTelemetry | undefined;

/** The process's OpenTelemetry, if started. */
export function currentOpenTelemetry(): OpenTelemetry | undefined {
  return started;
}

/** Counts what an exporter failed to deliver; never throws. */
class CountingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly onDropped: (n: number, error: unknown) => void,
  ) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      this.inner.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) this.onDropped(spans.length, result.error);
        done(result);
      });
    } catch (error) {
      this.onDropped(spans.length, error);
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown().catch(() => {});
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.().catch(() => {}) ?? Promise.resolve();
  }
}

function otlpBase(options: OpenTelemetryOptions): { traces?: string; metrics?: string } {
  const env = options.env ?? process.env;
  const base = options.otlpEndpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const strip = (u: string) => u.replace(/\/+$/, '');
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${strip(base)}/v1/traces` : undefined);
  const metricsUrl =
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? (base ? `${strip(base)}/v1/metrics` : undefined);
  return { ...(traces ? { traces } : {}), ...(metricsUrl ? { metrics: metricsUrl } : {}) };
}

/**
 * What a service, a command or a job calls at its start: the process's OpenTelemetry (started now, from
 * the OTEL_* environment, unless it already was), or undefined when OTEL_SDK_DISABLED=true.
 */
export function openTelemetryFor(serviceName: string): OpenTelemetry | undefined {
  if (process.env.OTEL_SDK_DISABLED === 'true') return undefined;
  return started ?? startOpenTelemetry({ serviceName });
}

export function startOpenTelemetry(options: OpenTelemetryOptions): OpenTelemetry {
  if (started)
    throw new AccordError(
      'CONFIG_INVALID',
      `OpenTelemetry is already started in this process (as ${started.serviceName}): shut it down first`,
    );
  const resource = resourceFromAttributes({ 'service.name': options.serviceName });
  const urls = otlpBase(options);
  let dropped = 0;
  let droppedCounter: Counter | undefined;
  let dropReason: string | undefined;
  const countDropped = (n: number, error: unknown) => {
    dropped += n;
    dropReason =
      error instanceof Error ? error.message : error === undefined ? 'export failed' : String(error);
    droppedCounter?.add(n, { signal: 'spans' });
  };
  const processors: SpanProcessor[] = (options.spanExporters ?? []).map(
    (e) => new SimpleSpanProcessor({ exporter: new CountingExporter(e, countDropped) }),
  );
  if (urls.traces)
    processors.push(
      new BatchSpanProcessor({
        exporter: new CountingExporter(
          new OTLPTraceExporter({ url: urls.traces, timeoutMillis: 5000 }),
          countDropped,
        ),
      }),
    );
  // Only when something takes the spans. A provider with no processor still builds every span (ids, cleaned
  // attributes, its own span metrics) and drops it: in the feature service that was 30% of all it allocated
  // (docs/performance.md). Without one, the context-only tracer keeps the trace contexts flowing.
  const tracerProvider =
    processors.length > 0 ? new TracerProvider({ resource, spanProcessors: processors }) : undefined;
  const prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const readers: MetricReader[] = [prometheus];
  if (urls.metrics)
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: urls.metrics, timeoutMillis: 5000 }),
        exportIntervalMillis: options.metricIntervalMs ?? 10_000,
      }),
    );
  const meterProvider = new MeterProvider({ resource, readers });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(tracerProvider ?? new ContextOnlyTracerProvider());
  metrics.setGlobalMeterProvider(meterProvider);
  // A collector that is down must not fill the service's log: OTel's own diagnostics stay off.
  diag.disable();
  droppedCounter = meterProvider.getMeter('accord').createCounter('accord.telemetry.dropped', {
    description: 'Telemetry the exporters could not deliver (dropped, the service went on)',
  });
  let server: Server | undefined;
  let stopping: Promise<void> | undefined;
  const handle: OpenTelemetry = {
    serviceName: options.serviceName,
    dropped: () => dropped,
    dropReason: () => dropReason,
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    serveMetrics(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const s = createServer((req, res) => {
          const path = (req.url ?? '/').split('?')[0];
          if (path === '/metrics') return handle.metricsHandler(req, res);
          if (path === '/healthz') {
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end(JSON.stringify({ status: 'ok', service: options.serviceName }));
          }
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found: try /metrics or /healthz\n');
        });
        s.once('error', (error) =>
          reject(
            new AccordError('CONFIG_INVALID', `cannot serve metrics on ${host}:${port}: ${error.message}`),
          ),
        );
        s.listen(port, host, () => {
          server = s;
          resolve((s.address() as AddressInfo).port);
        });
      });
    },
    async forceFlush() {
      await tracerProvider?.forceFlush().catch(() => {});
      await meterProvider.forceFlush().catch(() => {});
    },
    shutdown() {
      stopping ??= (async () => {
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
        await tracerProvider?.shutdown().catch(() => {});
        await meterProvider.shutdown().catch(() => {});
        trace.disable();
        metrics.disable();
        propagation.disable();
        context.disable();
        started = undefined;
      })();
      return stopping;
    },
  };
  started = handle;
  return handle;
}
