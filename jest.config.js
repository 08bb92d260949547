// Four projects: `unit` (pure logic, no infrastructure), `integration` (the real stack: Kafka, Postgres,
// Redis), `e2e` (the `accord` command and services as processes) and `faults` (a three-broker cluster of
// its own). Integration and e2e share a global setup that brings the stack up with `accord up` (or uses KAFKA_BROKERS / DATABASE_URL / REDIS_URL).
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'commonjs' } },
  ],
};
const moduleNameMapper = {
  '^@accord/sdk/ops$': '<rootDir>/packages/sdk/src/ops',
  '^@accord/(sdk|testing|cli|reference|schema-tools)$': '<rootDir>/packages/$1/src',
};
const common = { transform, moduleNameMapper, testEnvironment: 'node', rootDir: __dirname };

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/packages/*/test/**/*.test.ts',
        '<rootDir>/services/*/test/**/*.test.ts',
        '<rootDir>/test/architecture/*.test.ts',
      ],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/packages/*/test/**/*.int.test.ts', '<rootDir>/services/*/test/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.js',
      setupFiles: ['<rootDir>/test/setup/env.js'],
    },
    // Faults on a private three-broker cluster the project's global setup starts and every fault suite
    // shares (test/faults/cluster.ts): the short version runs in the default suite (CI, after the others,
    // alone); ACCORD_FAULTS=full (npm run test:faults:full) runs the long one.
    {
      ...common,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.faults.test.ts'],
      globalSetup: '<rootDir>/test/faults/global-setup.ts',
      globalTeardown: '<rootDir>/test/faults/global-teardown.ts',
      setupFiles: ['<rootDir>/test/setup/env.js'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.js',
      setupFiles: ['<rootDir>/test/setup/env.js'],
    },
  ],
};
