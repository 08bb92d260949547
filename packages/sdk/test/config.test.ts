import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULTS, describeKafkaAuth, redactUrl, resolveConfig } from '@accord/sdk';

describe('resolveConfig', () => {
  test('defaults apply when neither option nor env is given', () => {
    // (No local stack's secrets either: those would log in as its operator.)
    const config = resolveConfig({}, { ACCORD_SECRETS_DIR: '/nonexistent-accord-secrets' });
    expect(config.kafka).toEqual({
      brokers: ['127.0.0.1:9092'],
      clientId: 'accord',
      source: 'default',
      logLevel: 'error',
      fetchMaxBytes: 4 * 1024 * 1024,
    });
    expect(config.postgres).toEqual({ url: DEFAULTS.databaseUrl, source: 'default' });
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.schemaRegistry.url).toBe('http://127.0.0.1:8081');
    expect(config.testMode).toBe(false);
  });

  test('env overrides defaults and options override env', () => {
    const env = { KAFKA_BROKERS: 'k1:9092, k2:9093', DATABASE_URL: 'postgres://u@db:5432/x', CI: 'true' };
    const fromEnv = resolveConfig({}, env);
    expect(fromEnv.kafka.brokers).toEqual(['k1:9092', 'k2:9093']);
    expect(fromEnv.kafka.source).toBe('env');
    expect(fromEnv.postgres.url).toBe('postgres://u@db:5432/x');
    expect(fromEnv.testMode).toBe(true);

    const fromOption = resolveConfig({ kafkaBrokers: ['opt:1234'] }, env);
    expect(fromOption.kafka).toMatchObject({ brokers: ['opt:1234'], source: 'option' });
  });

  test('an invalid broker names the env variable and the value', () => {
    expect(() => resolveConfig({}, { KAFKA_BROKERS: 'localhost' })).toThrow(
      new ConfigError(
        'KAFKA_BROKERS has an invalid broker "localhost": expected host:port, e.g. 127.0.0.1:9092',
      ),
    );
    expect(() => resolveConfig({ kafkaBrokers: ['h:99999'] }, {})).toThrow(
      /option kafkaBrokers has an invalid broker "h:99999"/,
    );
    expect(() => resolveConfig({ kafkaBrokers: [] }, {})).toThrow(/option kafkaBrokers is empty/);
  });

  test('URLs are checked for syntax and protocol, naming the variable', () => {
    expect(() => resolveConfig({}, { DATABASE_URL: 'not a url' })).toThrow(/DATABASE_URL is not a valid URL/);
    expect(() => resolveConfig({}, { REDIS_URL: 'http://x:6379' })).toThrow(
      /REDIS_URL must use redis:\/\/ or rediss:\/\/, got "http:\/\/"/,
    );
    expect(() => resolveConfig({ schemaRegistryUrl: 'ftp://x' }, {})).toThrow(
      /option schemaRegistryUrl must use http/,
    );
  });

  test('client id and log level are validated', () => {
    expect(() => resolveConfig({}, { ACCORD_CLIENT_ID: 'bad id!' })).toThrow(/ACCORD_CLIENT_ID must be/);
    expect(() => resolveConfig({}, { ACCORD_KAFKA_LOG_LEVEL: 'loud' })).toThrow(
      /ACCORD_KAFKA_LOG_LEVEL must be one of nothing, error, warn, info, debug, got "loud"/,
    );
    expect(resolveConfig({}, { ACCORD_KAFKA_LOG_LEVEL: 'WARN' }).kafka.logLevel).toBe('warn');
  });

  test("a pipeline's fetch size: 4 MiB unless set, a whole number of bytes of at least 1024", () => {
    expect(resolveConfig({}, { ACCORD_SECRETS_DIR: '/nonexistent' }).kafka.fetchMaxBytes).toBe(
      4 * 1024 * 1024,
    );
    expect(resolveConfig({}, { ACCORD_FETCH_MAX_BYTES: '1048576' }).kafka.fetchMaxBytes).toBe(1048576);
    expect(resolveConfig({ kafkaFetchMaxBytes: 65536 }, {}).kafka.fetchMaxBytes).toBe(65536);
    expect(() => resolveConfig({}, { ACCORD_FETCH_MAX_BYTES: '1MB' })).toThrow(
      /ACCORD_FETCH_MAX_BYTES must be a whole number of bytes, at least 1024, got "1MB"/,
    );
    expect(() => resolveConfig({ kafkaFetchMaxBytes: 10 }, {})).toThrow(
      /option kafkaFetchMaxBytes must be a whole number of bytes, at least 1024, got "10"/,
    );
  });

  test('errors are ConfigErrors with a stable code and are not retriable', () => {
    try {
      resolveConfig({}, { KAFKA_BROKERS: ':' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ code: 'CONFIG_INVALID', retriable: false });
    }
  });
});

test('redactUrl hides passwords', () => {
  expect(redactUrl('postgres://svc:s3cret@db:5432/accord')).toBe('postgres://svc:***@db:5432/accord');
  expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
});

describe('Kafka credentials', () => {
  const base = { KAFKA_BROKERS: '127.0.0.1:9092', ACCORD_SECRETS_DIR: '/nonexistent-accord-secrets' };

  test('from the environment, SCRAM-SHA-512 unless told otherwise; never without a password', () => {
    const config = resolveConfig({}, { ...base, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' });
    expect(config.kafka.sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'svc',
      password: 'pw',
      source: 'env',
    });
    expect(() => resolveConfig({}, { ...base, KAFKA_SASL_USERNAME: 'svc' })).toThrow(
      'KAFKA_SASL_USERNAME is set but neither KAFKA_SASL_PASSWORD nor KAFKA_SASL_PASSWORD_FILE',
    );
    expect(() =>
      resolveConfig(
        {},
        { ...base, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw', KAFKA_SASL_MECHANISM: 'gssapi' },
      ),
    ).toThrow('KAFKA_SASL_*: mechanism must be one of scram-sha-512, scram-sha-256, plain, got "gssapi"');
    expect(resolveConfig({}, base).kafka.sasl).toBeUndefined();
  });

  test('a password file others can read is refused, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'accord-config-'));
    const file = join(dir, 'password');
    try {
      writeFileSync(file, 'from-a-file\n', { mode: 0o644 });
      chmodSync(file, 0o644);
      const env = { ...base, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD_FILE: file };
      expect(() => resolveConfig({}, env)).toThrow(
        `KAFKA_SASL_PASSWORD_FILE ${file} is readable by others (mode 644)`,
      );
      chmodSync(file, 0o600);
      expect(resolveConfig({}, env).kafka.sasl?.password).toBe('from-a-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('describeKafkaAuth says who, never the password', () => {
    const config = resolveConfig(
      {},
      { ...base, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw-secret' },
    );
    expect(describeKafkaAuth(config)).toBe('SASL SCRAM-SHA-512 as svc (env)');
  });
});
