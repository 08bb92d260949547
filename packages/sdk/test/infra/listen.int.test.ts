/**
 * A LISTEN connection that dies (here: its backend terminated, as a Postgres restart does) is made again:
 * the subscriber is told there was a gap, and notifications arrive again. Before, the dead connection's
 * 'error' ended the process (found by the fault suite's Postgres restart).
 */
import { createPgPool, resolveConfig } from '@accord/sdk';
import { eventually } from '@accord/testing';
import { subscribeChannel } from '../../src/infra/listen';

jest.setTimeout(60000);

const pool = createPgPool(resolveConfig().postgres.url, { max: 4 });
const channel = `t_listen_${Date.now().toString(36)}`;
afterAll(() => pool.end());

test('a lost LISTEN connection comes back, says so, and hears notifications again', async () => {
  const heard: string[] = [];
  let gaps = 0;
  const unsubscribe = await subscribeChannel(
    pool,
    channel,
    (payload) => heard.push(payload),
    () => gaps++,
  );
  const notify = (payload: string) => pool.query('select pg_notify($1, $2)', [channel, payload]);
  await notify('before');
  await eventually(() => heard.includes('before'), { what: 'the first notification' });

  const listener = async () =>
    (
      await pool.query<{ pid: number }>(
        `select pid from pg_stat_activity where query = $1 and pid <> pg_backend_pid()`,
        [`listen ${channel}`],
      )
    ).rows.map((r) => r.pid);
  const [pid] = await listener();
  expect(pid).toBeGreaterThan(0);
  await pool.query('select pg_terminate_backend($1)', [pid]);

  await eventually(() => gaps === 1, { timeoutMs: 20000, what: 'the subscriber told of the gap' });
  const [again] = await eventually(
    async () => {
      const pids = await listener();
      return pids.length === 1 && pids[0] !== pid ? pids : undefined;
    },
    { what: 'a new LISTEN connection' },
  );
  expect(again).not.toBe(pid);
  await notify('after');
  await eventually(() => heard.includes('after'), { what: 'a notification after the reconnect' });
  expect(heard).toEqual(['before', 'after']);

  await unsubscribe();
  expect(await listener()).toEqual([]);
});
