/** The environment the stack commands read, for their --help. */
export const ENVIRONMENT = `Environment:
  KAFKA_BROKERS        use this Kafka cluster instead of starting a local broker (host:port[,host:port])
  DATABASE_URL         Postgres (default postgres://postgres@127.0.0.1:5432/accord)
  REDIS_URL            Redis (default redis://127.0.0.1:6379)
  ACCORD_KAFKA_PORT    port of the local broker (default 9092); ACCORD_KAFKA_CONTROLLER_PORT (default 9093)
  ACCORD_STATE_DIR     where the local stack keeps data, logs and pids (default <project>/.accord)`;
