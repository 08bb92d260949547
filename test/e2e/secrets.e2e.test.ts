/**
 * No secret in any output (docs/security.md): every password and key the local stack holds is looked for
 * in what the CLI prints (up, status, principals), in a service's log at debug level (kafkajs's lines
 * included), and in every log file under the state dir (the broker's, the registry's, the agents').
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { secretsDir } from '@accord/sdk';
import { uniqueName } from '@accord/testing';
import { accord, ROOT, startService } from './cli';

jest.setTimeout(180000);

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

function files(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return [];
    if (stat.isDirectory()) return files(path, keep);
    return keep(path) ? [path] : [];
  });
}

test('no password or key appears in CLI output, a service log or the stack’s logs', async () => {
  const printed: [string, string][] = [];
  for (const args of [['up'], ['status'], ['status', '--json'], ['principals'], ['principals', '--json']]) {
    const result = await accord(args);
    expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: '' });
    printed.push([`accord ${args.join(' ')}`, result.stdout + result.stderr]);
  }
  const listing = printed.find(([what]) => what === 'accord principals')?.[1] ?? '';
  const grantsOf = (principal: string) => listing.split(`${principal}\n`)[1]?.split(/\n(?! )/)[0] ?? '';
  expect(grantsOf('accord_archive')).toContain('read topic *');
  expect(grantsOf('accord_archive')).not.toContain('write topic commerce');
  expect(grantsOf('accord_owner_order')).toContain('write topic commerce.order.events');
  expect(grantsOf('accord_owner_order')).not.toContain('write topic commerce.customer.events');

  const archive = await startService(
    'services/archive/dist/main.js',
    ['--group', uniqueName('t-archive'), '--topics', '^commerce\\.order\\.events$'],
    { ACCORD_LOG_LEVEL: 'debug', ACCORD_KAFKA_LOG_LEVEL: 'debug' },
    stops,
  );
  await archive.stop();
  printed.push(['the archive at debug level', archive.output.join('')]);

  const dir = secretsDir({ ...process.env, ACCORD_ROOT: ROOT });
  // A secret is a whole file (a password) or, for a signing key, each line of its PEM body.
  const secrets = files(dir, () => true).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.length >= 20 && !line.startsWith('-----'))
      .map((value) => ({ file, value })),
  );
  expect(secrets.length).toBeGreaterThanOrEqual(10); // the cluster's, the operator's, services', owners'
  // The stack's log files. Kafka's data directories hold the topics' records in `.log` segments: not logs,
  // and other tests (two run at a time) create and delete topics meanwhile, so a segment can vanish.
  const segment = /\/kafka\/(node-\d+\/)?data\//;
  const logs = files(
    join(dir, '..'),
    (path) => path.endsWith('.log') && !path.startsWith(dir) && !segment.test(path),
  ).flatMap((file): [string, string][] => {
    try {
      return [[file, readFileSync(file, 'utf8')]];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []; // rotated away meanwhile
      throw error;
    }
  });
  expect(logs.some(([file]) => file.endsWith('kafka.log'))).toBe(true);
  const leaks = secrets.flatMap(({ file, value }) =>
    [...printed, ...logs].filter(([, text]) => text.includes(value)).map(([where]) => `${file} in ${where}`),
  );
  expect(leaks).toEqual([]);
});
