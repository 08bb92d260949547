import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPgPool, resolveConfig } from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
import { uniqueName } from '@accord/testing';

jest.setTimeout(60000);

// Migrations create databases, so this test gets a database of its own (not just a schema) and drops it.
const config = resolveConfig();
const admin = createPgPool(new URL('/postgres', config.postgres.url).toString(), { max: 1 });
const database = uniqueName('t_db', '_');
const url = new URL(`/${database}`, config.postgres.url).toString();
const repoMigrations = resolve(__dirname, '../../../../infra/postgres/migrations');

afterAll(async () => {
  await admin.query(`drop database if exists "${database}" with (force)`);
  await admin.end();
});

test('migrate creates the database, applies every migration once, and is idempotent', async () => {
  const first = await migrate(url, repoMigrations);
  expect(first.createdDatabase).toBe(true);
  expect(first.applied).toContain('0001_pipeline_checkpoints');

  const second = await migrate(url, repoMigrations);
  expect(second).toMatchObject({ createdDatabase: false, applied: [] });
  expect(second.alreadyApplied).toEqual(first.applied);

  const pool = createPgPool(url, { max: 1 });
  try {
    const columns = await pool.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_name = 'pipeline_checkpoints'`,
    );
    expect(columns.rows.map((r) => r.column_name)).toEqual(
      expect.arrayContaining([
        'pipeline_name',
        'consumer_group',
        'topic',
        'partition',
        'checkpoint_type',
        'checkpoint_value',
        'kafka_offset',
        'updated_at',
      ]),
    );
  } finally {
    await pool.end();
  }
});

test('concurrent migrate calls apply a new migration exactly once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-migrations-'));
  writeFileSync(
    join(dir, '0001_counter.sql'),
    'create table counter (n int); insert into counter values (1);',
  );
  const results = await Promise.all(Array.from({ length: 5 }, () => migrate(url, dir)));
  expect(results.filter((r) => r.applied.length === 1)).toHaveLength(1);
  const pool = createPgPool(url, { max: 1 });
  try {
    const { rows } = await pool.query<{ count: string }>('select count(*) from counter');
    expect(rows[0]?.count).toBe('1');
  } finally {
    await pool.end();
  }
});

test('a failing migration is rolled back and reported with its file name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-migrations-'));
  writeFileSync(join(dir, '0001_broken.sql'), 'create table half_done (n int); select * from no_such_table;');
  await expect(migrate(url, dir)).rejects.toMatchObject({
    code: 'MIGRATION_FAILED',
    message: expect.stringMatching(
      /^migration 0001_broken\.sql failed: relation "no_such_table" does not exist/,
    ),
  });
  const pool = createPgPool(url, { max: 1 });
  try {
    const { rows } = await pool.query(`select to_regclass('half_done') as t`);
    expect(rows[0]).toEqual({ t: null });
  } finally {
    await pool.end();
  }
});
