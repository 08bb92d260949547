// Brings the real stack up before integration and e2e tests, with the same command users run.
// `accord up` is idempotent and honours KAFKA_BROKERS / DATABASE_URL / REDIS_URL, so pointing those at
// existing services makes the tests use them instead.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.resolve(__dirname, '..', '..');
  if (globalThis.__accordStackUp) return; // once per jest run, even with several projects
  try {
    execFileSync('bash', [path.join(root, 'scripts', 'accord'), 'up'], { stdio: 'inherit', timeout: 300000 });
  } catch {
    throw new Error('the test stack could not be brought up: see the `accord up` output above');
  }
  globalThis.__accordStackUp = true;
};
