import { replayWindow } from '../../src/ops/replay';
import { replayProgress } from '../../src/ops/replay-wait';

const base = { checkpoint: 100n, replayResume: null, low: 10n, high: 120n, to: undefined, until: undefined };

test('from the earliest offset: the whole retained log up to the checkpoint, then on from the checkpoint', () => {
  expect(replayWindow(base)).toEqual({ to: 10n, until: 100n, resume: 100n });
});

test('a target before the log start starts at the log start; one past the checkpoint never skips forward', () => {
  expect(replayWindow({ ...base, to: 3n })).toMatchObject({ to: 10n });
  expect(replayWindow({ ...base, to: 110n })).toEqual({ to: 100n, until: 100n, resume: 100n });
});

test('a bounded replay stops at until (never past the checkpoint, never before its start)', () => {
  expect(replayWindow({ ...base, to: 40n, until: 60n })).toEqual({ to: 40n, until: 60n, resume: 100n });
  expect(replayWindow({ ...base, to: 40n, until: 500n })).toMatchObject({ until: 100n });
  expect(replayWindow({ ...base, to: 40n, until: 20n })).toMatchObject({ until: 40n });
});

test('an unfinished earlier replay resumes from the furthest position reached', () => {
  expect(replayWindow({ ...base, checkpoint: 50n, replayResume: 100n, to: 20n })).toEqual({
    to: 20n,
    until: 50n,
    resume: 100n,
  });
});

test('a checkpoint past the log end (a truncated log) is clamped to the log end', () => {
  expect(replayWindow({ ...base, checkpoint: 500n, replayResume: 900n })).toEqual({
    to: 10n,
    until: 120n,
    resume: 120n,
  });
});

test('replay progress counts re-processed events per partition until its replay is cleared', () => {
  const part = (partition: number, to: string, events: number) => ({
    topic: 't',
    partition,
    from: '100',
    to,
    until: '100',
    events,
    resume: '100',
    generation: 1,
  });
  const plan = {
    group: 'g',
    target: { kind: 'earliest' as const },
    running: true,
    unflushed: 0,
    partitions: [part(0, '0', 100), part(1, '50', 50), part(2, '100', 0)],
  };
  const row = (partition: number, checkpoint: string, replaying: boolean) =>
    ({ topic: 't', partition, checkpoint, replaying }) as never;
  expect(replayProgress(plan, [row(0, '30', true), row(1, '100', false), row(2, '100', false)])).toEqual({
    done: 80,
    total: 150,
    pending: 1,
  });
  expect(replayProgress(plan, [row(0, '100', false), row(1, '100', false)])).toEqual({
    done: 150,
    total: 150,
    pending: 0,
  });
});
