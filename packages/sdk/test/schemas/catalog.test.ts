import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateSchemaTypes, generateTypes, loadSchemaCatalog, SCHEMAS } from '@accord/sdk';

const ROOT = resolve(__dirname, '../../../..');

test('the generated TypeScript types are up to date with schemas/ (run: accord schemas generate)', () => {
  const result = generateSchemaTypes(ROOT, { check: true });
  expect(result.schemas).toBeGreaterThan(10);
  expect(result.upToDate).toBe(true);
});

test('every event inlines the envelope, and the catalog matches the generated constants', () => {
  const entries = loadSchemaCatalog(join(ROOT, 'schemas'));
  const placed = entries.find((e) => e.fullName === 'accord.commerce.OrderPlaced');
  expect(placed?.file).toBe('commerce/OrderPlaced.avsc');
  const fields = (placed?.json as { fields: { name: string; type: unknown }[] } | undefined)?.fields ?? [];
  expect(fields[0]).toMatchObject({ name: 'envelope', type: { type: 'record', name: 'EventEnvelope' } });
  for (const entry of entries) expect(SCHEMAS[entry.fullName as keyof typeof SCHEMAS]).toEqual(entry.json);
  // The domains the platform needs are all there.
  const names = entries.map((e) => e.fullName);
  for (const name of [
    'accord.platform.ChangeProposal',
    'accord.platform.Decision',
    'accord.platform.DeadLetter',
    'accord.commerce.DiscountApproved',
    'accord.commerce.RiskFlagged',
    'accord.logs.LogAnomaly',
  ]) {
    expect(names).toContain(name);
  }
});

function tempSchemas(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'accord-schemas-'));
  for (const [file, json] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), typeof json === 'string' ? json : JSON.stringify(json));
  }
  return dir;
}

test('bad schema files are reported with their file name', () => {
  expect(() => loadSchemaCatalog(tempSchemas({ 'a/Bad.avsc': '{ nope' }))).toThrow(
    /^a\/Bad\.avsc: not valid JSON/,
  );
  expect(() =>
    loadSchemaCatalog(
      tempSchemas({
        'x/A.avsc': { type: 'record', name: 'A', namespace: 'n', fields: [{ name: 'f', type: 'n.Missing' }] },
      }),
    ),
  ).toThrow(/^x\/A\.avsc: Invalid schema: .*n\.Missing/);
  const dup = { type: 'record', name: 'A', namespace: 'n', fields: [] };
  expect(() => loadSchemaCatalog(tempSchemas({ 'one/A.avsc': dup, 'two/A.avsc': dup }))).toThrow(
    /n\.A is also defined in one\/A\.avsc/,
  );
});

test('codegen maps Avro types to TypeScript, optional where a default exists', () => {
  const dir = tempSchemas({
    'T.avsc': {
      type: 'record',
      name: 'T',
      namespace: 'n',
      fields: [
        { name: 'b', type: 'bytes' },
        { name: 'n', type: ['null', 'long'], default: null },
        { name: 'tags', type: { type: 'map', values: { type: 'array', items: 'string' } } },
        { name: 'e', type: { type: 'enum', name: 'Color', symbols: ['RED', 'BLUE'] } },
      ],
    },
  });
  const text = generateTypes(loadSchemaCatalog(dir));
  expect(text).toContain("export type Color = 'RED' | 'BLUE';");
  expect(text).toMatch(
    /export interface T \{\n {2}b: Buffer;\n {2}n\?: null \| number;\n {2}tags: Record<string, string\[\]>;\n {2}e: Color;\n\}/,
  );
  expect(text).toContain("'n.T': T;");
});
