import { checkJava, localKafkaSettings } from '../../src/stack/kafka';

test('local broker ports come from ACCORD_KAFKA_PORT / ACCORD_KAFKA_CONTROLLER_PORT with defaults', () => {
  expect(localKafkaSettings({})).toMatchObject({ port: 9092, controllerPort: 9093, heap: '512m' });
  expect(
    localKafkaSettings({ ACCORD_KAFKA_PORT: '19092', ACCORD_KAFKA_CONTROLLER_PORT: '19093' }),
  ).toMatchObject({
    port: 19092,
    controllerPort: 19093,
  });
  expect(() => localKafkaSettings({ ACCORD_KAFKA_PORT: 'ninety' })).toThrow(
    'ACCORD_KAFKA_PORT must be a TCP port (1-65535), got "ninety"',
  );
});

test('a missing Java is reported with what to do', () => {
  const saved = process.env.JAVA_HOME;
  process.env.JAVA_HOME = '/nonexistent-java-home';
  try {
    expect(() => checkJava()).toThrow(
      expect.objectContaining({
        code: 'STACK_JAVA_MISSING',
        message: expect.stringMatching(/install it .* or set KAFKA_BROKERS/),
      }),
    );
  } finally {
    if (saved === undefined) delete process.env.JAVA_HOME;
    else process.env.JAVA_HOME = saved;
  }
});

test('the machine Java is found and is 17 or newer', () => {
  expect(checkJava()).toBeGreaterThanOrEqual(17);
});
