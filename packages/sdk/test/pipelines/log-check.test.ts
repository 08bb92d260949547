import { checkPosition, outOfRangeAction, partitionHealth, sameLog } from '../../src/pipelines/log-check';

const live = { clusterId: 'c1', topicId: 't1' };
const facts = (checkpoint: bigint, saved: typeof live | null = live) => ({
  checkpoint,
  saved,
  live,
  logStart: 10n,
  logEnd: 20n,
});

test('same log: cluster ids must match; topic ids when both sides know them', () => {
  expect(sameLog(live, live)).toBe(true);
  expect(sameLog({ clusterId: 'c2', topicId: 't1' }, live)).toBe(false);
  expect(sameLog({ clusterId: 'c1', topicId: 't2' }, live)).toBe(false);
  expect(sameLog({ clusterId: 'c1', topicId: null }, live)).toBe(true);
  expect(sameLog({ clusterId: 'c2', topicId: null }, { clusterId: 'c1', topicId: null })).toBe(false);
});

test('verdicts: identity first, then the range (both ends inclusive), then unbound', () => {
  expect(checkPosition(facts(15n))).toEqual({ kind: 'ok' });
  expect(checkPosition(facts(10n))).toEqual({ kind: 'ok' });
  expect(checkPosition(facts(20n))).toEqual({ kind: 'ok' });
  expect(checkPosition(facts(9n))).toEqual({ kind: 'out-of-range', where: 'before-start' });
  expect(checkPosition(facts(21n))).toEqual({ kind: 'out-of-range', where: 'past-end' });
  expect(checkPosition(facts(15n, null))).toEqual({ kind: 'unbound' });
  expect(checkPosition(facts(99n, null))).toEqual({ kind: 'out-of-range', where: 'past-end' });
  expect(checkPosition(facts(15n, { clusterId: 'old', topicId: 't1' })).kind).toBe('identity-changed');
  // A changed identity wins even when the offset happens to be inside the new log.
  expect(checkPosition(facts(3n, { clusterId: 'c1', topicId: 'old' })).kind).toBe('identity-changed');
});

test('out-of-range policy: fail halts; earliest moves to the start (counting lost offsets) or to the end', () => {
  const f = { checkpoint: 4n, logStart: 10n, logEnd: 20n };
  expect(outOfRangeAction('fail', 'before-start', f)).toEqual({ action: 'halted' });
  expect(outOfRangeAction('earliest', 'before-start', f)).toEqual({ action: 'moved', to: 10n, lost: 6n });
  expect(outOfRangeAction('earliest', 'past-end', { ...f, checkpoint: 43n })).toEqual({
    action: 'moved',
    to: 20n,
    lost: 0n,
  });
});

test('health: outside the log is never caught up', () => {
  const base = { halted: false, verdict: 'ok' as const, lag: 0n, stuck: false, replaying: false };
  expect(partitionHealth(base)).toBe('caught up');
  expect(partitionHealth({ ...base, lag: 3n })).toBe('behind');
  expect(partitionHealth({ ...base, verdict: 'out-of-range:past-end', lag: -23n })).toBe('past log end');
  expect(partitionHealth({ ...base, verdict: 'out-of-range:before-start', lag: 30n })).toBe(
    'before log start',
  );
  expect(partitionHealth({ ...base, verdict: 'identity-changed' })).toBe('identity changed');
  expect(partitionHealth({ ...base, halted: true, verdict: 'identity-changed' })).toBe('halted');
  expect(partitionHealth({ ...base, replaying: true, lag: 5n })).toBe('replaying');
  expect(partitionHealth({ ...base, stuck: true, lag: 5n })).toBe('STUCK');
});
