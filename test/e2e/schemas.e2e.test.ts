/**
 * `accord schemas check|register|list` against the running registry, on a schemas folder of the test's own
 * (a unique namespace, so the subjects are the test's alone), and the registry process's own guards.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '@accord/testing';
import { accord, freePort, logLines, ROOT } from './cli';

jest.setTimeout(120000);

const namespace = uniqueName('t_ns', '_');
const dir = mkdtempSync(join(tmpdir(), 'accord-schemas-e2e-'));
const registry = 'http://127.0.0.1:8081';

function writeOrder(fields: unknown[]): void {
  mkdirSync(join(dir, 'shop'), { recursive: true });
  writeFileSync(
    join(dir, 'shop', 'Order.avsc'),
    JSON.stringify({ type: 'record', name: 'Order', namespace, fields }),
  );
}

afterAll(async () => {
  const subject = `${namespace}.Order`;
  await fetch(`${registry}/subjects/${subject}`, { method: 'DELETE' });
  await fetch(`${registry}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
  rmSync(dir, { recursive: true, force: true });
});

test('check, register, list; then a breaking change fails check naming the field, a compatible one passes', async () => {
  const subject = `${namespace}.Order`;
  writeOrder([
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'long' },
  ]);

  const fresh = await accord(['schemas', 'check', '--dir', dir]);
  expect(fresh.code).toBe(0);
  expect(fresh.stdout).toMatch(new RegExp(`^${subject.replace(/\./g, '\\.')}\\s+new$`, 'm'));

  const registered = await accord(['schemas', 'register', '--dir', dir, '--json']);
  expect(registered.code).toBe(0);
  expect(JSON.parse(registered.stdout)).toEqual([
    { subject, id: expect.any(Number), version: 1, action: 'registered' },
  ]);
  const again = await accord(['schemas', 'register', '--dir', dir, '--json']);
  expect(JSON.parse(again.stdout)[0]).toMatchObject({ version: 1, action: 'unchanged' });

  const list = await accord(['schemas', 'list', '--json']);
  expect(list.code).toBe(0);
  expect(JSON.parse(list.stdout)).toContainEqual({
    subject,
    versions: [1],
    latestId: expect.any(Number),
    compatibility: 'BACKWARD_TRANSITIVE',
  });

  // Breaking under BACKWARD_TRANSITIVE: a type change, and a new field without a default (old data lacks it).
  writeOrder([
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'string' },
    { name: 'sku', type: 'string' },
  ]);
  const broken = await accord(['schemas', 'check', '--dir', dir]);
  expect(broken.code).toBe(1);
  expect(broken.stdout).toMatch(/\sINCOMPATIBLE$/m);
  expect(broken.stderr).toContain('Order.cents: type changed from long to string');
  expect(broken.stderr).toContain('Order.sku: field "sku" has no default');
  expect(broken.stderr).toMatch(
    new RegExp(`accord schemas check: 1 incompatible schema\\(s\\): ${subject.replace(/\./g, '\\.')}\\n$`),
  );

  // Compatible: a reader ignores writer fields it does not declare (cents), and a new field has a default.
  writeOrder([
    { name: 'id', type: 'string' },
    { name: 'note', type: ['null', 'string'], default: null },
  ]);
  const compatible = await accord(['schemas', 'check', '--dir', dir]);
  expect(compatible.code).toBe(0);
  expect(compatible.stdout).toMatch(/\scompatible$/m);
});

test('check against the repository schemas passes once they are registered', async () => {
  expect((await accord(['schemas', 'register'])).code).toBe(0);
  const result = await accord(['schemas', 'check', '--json']);
  expect(result.code).toBe(0);
  const rows = JSON.parse(result.stdout) as { status: string }[];
  expect(rows.length).toBeGreaterThan(10);
  expect(rows.every((r) => r.status === 'unchanged')).toBe(true);
});

test('schemas usage errors name what was wrong', async () => {
  const missing = await accord(['schemas']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(
    /^accord schemas: missing subcommand: check, register, list, generate, export or import .*\[USAGE\]\n$/,
  );
  const unknown = await accord(['schemas', 'publish']);
  expect(unknown.stderr).toMatch(/unknown subcommand "publish"/);
  const badRegistry = await accord(['schemas', 'export', '--registry', 'ftp://x']);
  expect({ code: badRegistry.code, stderr: badRegistry.stderr }).toEqual({
    code: 2,
    stderr: 'accord schemas: --registry must be an http(s) URL, got "ftp://x" [USAGE]\n',
  });
  const noFile = await accord(['schemas', 'import']);
  expect(noFile.stderr).toMatch(/needs the export file: accord schemas import <file>/);
  const down = await accord(['schemas', 'list'], {
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
  });
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(
    /^accord schemas: schema registry at http:\/\/127\.0\.0\.1:\d+ is not reachable: .*ECONNREFUSED.* \[SCHEMA_REGISTRY_UNAVAILABLE\]\n$/,
  );
});

function runRegistry(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'services/registry/dist/main.js'), ...args],
      { env: { ...process.env, ...env }, timeout: 30000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('the registry process has --help and refuses to run as a Postgres superuser', async () => {
  const help = await runRegistry(['--help'], {});
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: .*registry/);
  const port = String(await freePort());
  const superuser = await runRegistry(['--port', port], {
    REGISTRY_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/accord',
  });
  expect(superuser.code).toBe(1);
  // Once options are parsed, a service speaks in JSON log lines on stdout: the refusal is a fatal one.
  const [line, ...rest] = logLines([superuser.stdout]);
  expect(rest).toEqual([]);
  expect(line).toMatchObject({ level: 'fatal', service: 'registry', error: { code: 'CONFIG_INVALID' } });
  expect(line?.msg).toMatch(/^registry: refusing to run as a Postgres superuser .*accord_registry role$/);
  expect(superuser.stderr).toBe('');
});
