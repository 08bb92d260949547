/**
 * Passwords on every role, against a Postgres that requires them: a private cluster of the test's own
 * (initdb, its own port, scram-sha-256 for every TCP login) gets Accord's migrations and its role
 * passwords; the URL a service makes (serviceDatabaseUrl) logs in as the service's role, and a wrong or
 * missing password is refused.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgPool, serviceDatabaseUrl } from '@accord/sdk';
import { migrate, setRolePasswords } from '@accord/sdk/ops';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const BIN = join('/usr/lib/postgresql', readdirSync('/usr/lib/postgresql').sort().pop() ?? '', 'bin');
const dir = mkdtempSync(join(tmpdir(), 'accord-pg-'));
const data = join(dir, 'data');
const secrets = join(dir, 'secrets');
const superPassword = 'super-secret-for-this-test';
let port = 0;

/** Postgres refuses to run as root: its tools run as the postgres user, which owns the directory. */
const RUNUSER =
  ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser';
function asPostgres(command: string, args: string[]): string {
  const root = process.getuid?.() === 0;
  return execFileSync(
    root ? RUNUSER : join(BIN, command),
    root ? ['-u', 'postgres', '--', join(BIN, command), ...args] : args,
    {
      encoding: 'utf8',
    },
  );
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const url = (user: string, password?: string, database = 'accord') =>
  `postgres://${user}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@127.0.0.1:${port}/${database}`;

beforeAll(async () => {
  port = await freePort();
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${superPassword}\n`, { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const pg = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const group = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(pg), Number(group));
    chownSync(pwfile, Number(pg), Number(group));
  }
  chmodSync(dir, 0o700);
  asPostgres('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    `--pwfile=${pwfile}`,
  ]);
  asPostgres('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    '-w',
    'start',
  ]);
  await migrate(url('postgres', superPassword), join(ROOT, 'infra/postgres/migrations'));
});

afterAll(() => {
  try {
    asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every login role gets a password; a service logs in with it, a wrong or missing one is refused', async () => {
  const env = { ACCORD_SECRETS_DIR: secrets, DATABASE_URL: url('postgres', superPassword) };
  const admin = createPgPool(url('postgres', superPassword), { max: 1 });
  let roles: { role: string; created: boolean }[];
  try {
    roles = await setRolePasswords(admin, undefined, env);
    // Setting them again changes nothing the services see (the same secrets).
    expect((await setRolePasswords(admin, undefined, env)).every((r) => !r.created)).toBe(true);
  } finally {
    await admin.end();
  }
  expect(roles.map((r) => r.role)).toEqual(
    expect.arrayContaining(['accord_archive', 'accord_features', 'accord_registry', 'accord_owner_order']),
  );
  expect(roles.every((r) => r.created)).toBe(true);

  const serviceUrl = serviceDatabaseUrl('accord_archive', 'ARCHIVE_DATABASE_URL', env);
  const archive = createPgPool(serviceUrl, { max: 1 });
  try {
    const { rows } = await archive.query<{ user: string }>('select current_user as user');
    expect(rows[0]?.user).toBe('accord_archive');
  } finally {
    await archive.end();
  }
  for (const [what, attempt] of [
    ['a wrong password', url('accord_archive', 'guess')],
    ['no password', url('accord_archive')],
    ['another role’s password', url('accord_owner_order', new URL(serviceUrl).password)],
  ] as const) {
    const pool = createPgPool(attempt, { max: 1 });
    try {
      await expect(
        pool.query('select 1').catch((e: Error) => Promise.reject(new Error(`${what}: ${e.message}`))),
      ).rejects.toThrow(/password authentication failed|client password must be a string/);
    } finally {
      await pool.end();
    }
  }
});
