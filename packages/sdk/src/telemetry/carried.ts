/**
 * Messages that carry a trace context of their own (the outbox relay gives each decision event its
 * decision's), keyed by their headers object. OpenTelemetry's kafkajs instrumentation injects the active
 * context into every message it sends, which would put a relayed decision event in the relay's trace
 * instead of its decision's: its producer hook (register.ts) puts the carried context back.
 */
export const carriedTrace = new WeakMap<object, string>();
