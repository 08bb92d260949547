// Test mode: fast retries (chosen in the SDK's config module) and quiet kafkajs.
process.env.NODE_ENV = 'test';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
// kafkajs logs retried broker answers (e.g. CONCURRENT_TRANSACTIONS right after an abort) as errors;
// tests assert outcomes instead. Set ACCORD_KAFKA_LOG_LEVEL=error to see them.
process.env.ACCORD_KAFKA_LOG_LEVEL ??= 'nothing';
// Accord's own structured log: incidents and dead letters are warnings that tests provoke on purpose and
// assert through the telemetry seam. Set ACCORD_LOG_LEVEL=info (or debug) to see them.
process.env.ACCORD_LOG_LEVEL ??= 'error';
