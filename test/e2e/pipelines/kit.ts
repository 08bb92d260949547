/**
 * What the pipeline e2e tests share: a migrated database of their own, a publisher of the reference
 * domain, helpers to publish, run the recorder fixture and count what it saw, and the CLI on that
 * database. Imported by a test file, it registers that file's setup and cleanup.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, EventPublisher, type Pipeline, resolveConfig } from '@accord/sdk';
import { TestContext } from '@accord/testing';
import { accord, ROOT } from '../cli';

export const config = resolveConfig();
export const ctx = new TestContext(config);
export const db = ctx.database();
export const dbUrl = db.url();
export const pool = createPgPool(dbUrl, { max: 6 });
export const scoped = resolveConfig({ databaseUrl: dbUrl });
export const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
export const children: ChildProcess[] = [];
export const pipelines: Pipeline[] = [];

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  // The recorders' table, made once here: two recorders started together both ran `create table if not
  // exists`, and concurrent creations of one table can fail (a unique violation in pg_type): the loser
  // exited at start, and a test waiting for both to progress timed out (seen once in a CI clone).
  await pool.query(
    'create table if not exists t_seen (grp text not null, event_id text not null, part int not null, off bigint not null, replay boolean not null)',
  );
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const p of pipelines) await p.stop();
  await publisher.close();
  await pool.end();
  await ctx.cleanup();
});

export const cli = (args: string[]) => accord(args, { DATABASE_URL: dbUrl });
export const discount = (n: number) => ({ orderId: `o-${n}`, percent: n, approvedBy: 'pricing' });

export async function publish(topic: string, count: number, at?: (n: number) => number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - start) }, (_, j) => {
      const n = start + j;
      return {
        type: 'DiscountApproved',
        data: discount(n),
        options: { entityId: `o-${n % 100}`, topic, ...(at ? { occurredAt: at(n) } : {}) },
      };
    });
    for (const e of await publisher.publishMany(batch)) ids.push(e.eventId);
  }
  return ids;
}

export function recorder(group: string, topic: string, mode: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', join(ROOT, 'test/fixtures/recorder.js'), group, topic, mode],
    {
      env: { ...process.env, DATABASE_URL: dbUrl },
      // Its errors (a crash at start) reach the test's log.
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(child);
  return child;
}

export async function seen(group: string): Promise<number> {
  const { rows } = await pool
    .query<{ n: string }>('select count(*) as n from t_seen where grp = $1', [group])
    .catch(() => ({ rows: [{ n: '0' }] }));
  return Number(rows[0]?.n);
}
