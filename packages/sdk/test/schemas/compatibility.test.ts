import { COMPATIBILITY_MODES, type CompatibilityMode, checkCompatibility, readIssues } from '@accord/sdk';
import { Type } from 'avsc';

const rec = (fields: unknown[]) =>
  Type.forSchema({ type: 'record', name: 'Order', namespace: 'shop', fields } as never);
const f = (name: string, type: unknown, extra: Record<string, unknown> = {}) => ({ name, type, ...extra });

// A small history: v1 → v2 adds an optional field (with default) → v3 drops a field that had a default.
const v1 = rec([f('id', 'string'), f('note', 'string', { default: '' })]);
const v2 = rec([f('id', 'string'), f('note', 'string', { default: '' }), f('qty', 'int', { default: 1 })]);
const v3 = rec([f('id', 'string'), f('qty', 'int', { default: 1 })]);
const history = [
  { version: 1, type: v1 },
  { version: 2, type: v2 },
];

describe('readIssues follows Avro schema resolution', () => {
  test.each([
    ['int promotes to long', rec([f('n', 'long')]), rec([f('n', 'int')]), true],
    ['long does not narrow to int', rec([f('n', 'int')]), rec([f('n', 'long')]), false],
    ['string reads bytes', rec([f('s', 'string')]), rec([f('s', 'bytes')]), true],
    [
      'added field with default',
      rec([f('a', 'int'), f('b', 'int', { default: 0 })]),
      rec([f('a', 'int')]),
      true,
    ],
    ['added field without default', rec([f('a', 'int'), f('b', 'int')]), rec([f('a', 'int')]), false],
    ['removed field', rec([f('a', 'int')]), rec([f('a', 'int'), f('b', 'int')]), true],
    [
      'widened to a nullable union',
      rec([f('a', ['null', 'int'], { default: null })]),
      rec([f('a', 'int')]),
      true,
    ],
    ['narrowed from a union', rec([f('a', 'int')]), rec([f('a', ['null', 'int'], { default: null })]), false],
    ['renamed through an alias', rec([f('b', 'int', { aliases: ['a'] })]), rec([f('a', 'int')]), true],
    [
      'enum symbol added (reader has more)',
      rec([f('e', { type: 'enum', name: 'E', symbols: ['A', 'B'] })]),
      rec([f('e', { type: 'enum', name: 'E', symbols: ['A'] })]),
      true,
    ],
    [
      'enum symbol removed (writer has more)',
      rec([f('e', { type: 'enum', name: 'E', symbols: ['A'] })]),
      rec([f('e', { type: 'enum', name: 'E', symbols: ['A', 'B'] })]),
      false,
    ],
    [
      'array items promoted',
      rec([f('xs', { type: 'array', items: 'double' })]),
      rec([f('xs', { type: 'array', items: 'float' })]),
      true,
    ],
    [
      'map values changed',
      rec([f('m', { type: 'map', values: 'int' })]),
      rec([f('m', { type: 'map', values: 'string' })]),
      false,
    ],
  ])('%s', (_, reader, writer, compatible) => {
    const issues = readIssues(reader, writer);
    expect(issues.length === 0).toBe(compatible);
    // avsc's own resolver is the oracle: it throws exactly when the reader cannot read the writer.
    let avscCompatible = true;
    try {
      reader.createResolver(writer);
    } catch {
      avscCompatible = false;
    }
    expect(avscCompatible).toBe(compatible);
  });

  test('issues name the field path and what broke', () => {
    const reader = rec([
      f('lines', { type: 'array', items: { type: 'record', name: 'Line', fields: [f('sku', 'int')] } }),
    ]);
    const writer = rec([
      f('lines', { type: 'array', items: { type: 'record', name: 'Line', fields: [f('sku', 'string')] } }),
    ]);
    expect(readIssues(reader, writer)).toEqual(['Order.lines[].sku: type changed from string to int']);
    expect(readIssues(rec([f('a', 'int'), f('b', 'int')]), rec([f('a', 'int')]))).toEqual([
      'Order.b: field "b" has no default and is missing from the writer\'s schema',
    ]);
  });
});

describe('checkCompatibility: every mode, with a compatible and an incompatible change', () => {
  // For each mode: a change the mode accepts and one it refuses, against the v1→v2 history.
  const addRequired = rec([
    f('id', 'string'),
    f('note', 'string', { default: '' }),
    f('qty', 'int', { default: 1 }),
    f('sku', 'string'),
  ]);
  const dropRequiredId = rec([f('note', 'string', { default: '' }), f('qty', 'int', { default: 1 })]);
  const addOptional = rec([
    f('id', 'string'),
    f('note', 'string', { default: '' }),
    f('qty', 'int', { default: 1 }),
    f('tag', 'string', { default: '' }),
  ]);
  // Compatible with v2 only (reads v2's data; v1 lacks qty… v3 drops note, which had a default): see below.
  const cases: Record<CompatibilityMode, { ok: typeof v1; bad: typeof v1; badField: string }> = {
    BACKWARD: { ok: v3, bad: addRequired, badField: 'Order.sku' },
    BACKWARD_TRANSITIVE: {
      ok: addOptional,
      bad: rec([f('id', 'string'), f('qty', 'int')]),
      badField: 'Order.qty',
    },
    FORWARD: { ok: addRequired, bad: dropRequiredId, badField: 'Order.id' },
    FORWARD_TRANSITIVE: {
      ok: addRequired,
      bad: rec([f('note', 'string', { default: '' })]),
      badField: 'Order.id',
    },
    FULL: { ok: addOptional, bad: addRequired, badField: 'Order.sku' },
    FULL_TRANSITIVE: { ok: addOptional, bad: dropRequiredId, badField: 'Order.id' },
    NONE: { ok: dropRequiredId, bad: dropRequiredId, badField: '' },
  };

  test.each(COMPATIBILITY_MODES.filter((m) => m !== 'NONE'))('%s', (mode) => {
    const { ok, bad, badField } = cases[mode];
    expect(checkCompatibility(ok, history, mode)).toEqual({ compatible: true, messages: [] });
    const refused = checkCompatibility(bad, history, mode);
    expect(refused.compatible).toBe(false);
    expect(refused.messages.join('\n')).toContain(badField);
    expect(refused.messages[0]).toMatch(new RegExp(`^version \\d \\(${mode}\\): `));
  });

  test('NONE accepts anything', () => {
    expect(checkCompatibility(rec([f('z', 'bytes')]), history, 'NONE').compatible).toBe(true);
  });

  test('transitive modes check every earlier version, plain modes only the latest', () => {
    // Reads v2 (qty present) but not v1 (qty missing, no default).
    const readsOnlyV2 = rec([f('id', 'string'), f('qty', 'int')]);
    expect(checkCompatibility(readsOnlyV2, history, 'BACKWARD').compatible).toBe(true);
    const transitive = checkCompatibility(readsOnlyV2, history, 'BACKWARD_TRANSITIVE');
    expect(transitive.compatible).toBe(false);
    expect(transitive.messages).toEqual([
      expect.stringMatching(/^version 1 \(BACKWARD_TRANSITIVE\): .*Order\.qty/),
    ]);
  });

  test('the first version is always accepted', () => {
    expect(checkCompatibility(v1, [], 'FULL_TRANSITIVE').compatible).toBe(true);
  });
});
