import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SCHEMAS as DOMAIN_SCHEMAS } from '@accord/reference';
import { generateSchemaTypes, generateTypes, loadSchemaCatalog } from '@accord/schema-tools';

const ROOT = resolve(__dirname, '../../..');

test('every generated file is up to date with schemas/ (run: accord schemas generate)', () => {
  const results = generateSchemaTypes(ROOT, { check: true });
  expect(results.map((r) => [r.path.slice(ROOT.length + 1), r.schemas, r.upToDate])).toEqual([
    ['packages/sdk/src/schemas/types.generated.ts', 4, true],
    ['packages/reference/src/schemas.generated.ts', 14, true],
  ]);
});

test("a domain's generated file imports the platform records it refers to instead of declaring them", () => {
  const dir = tempSchemas({
    'platform/Env.avsc': {
      type: 'record',
      name: 'Env',
      namespace: 'accord.platform',
      fields: [{ name: 'id', type: 'string' }],
    },
    'acme/Thing.avsc': {
      type: 'record',
      name: 'ThingHappened',
      namespace: 'acme.shop',
      'accord.entity': 'thing',
      fields: [
        { name: 'envelope', type: 'accord.platform.Env' },
        { name: 'size', type: 'int' },
      ],
    },
  });
  const text = generateTypes(loadSchemaCatalog(dir), {
    include: (name) => name.startsWith('acme.'),
    importFrom: '@accord/sdk',
  });
  expect(text).toContain("import type { Env } from '@accord/sdk';");
  expect(text).not.toContain('export interface Env');
  expect(text).toMatch(/export interface ThingHappened \{\n {2}envelope: Env;\n {2}size: number;\n\}/);
  expect(text).toContain('"acme.shop.ThingHappened": "thing"');
  expect(() =>
    generateTypes(loadSchemaCatalog(dir), { include: (name) => name.startsWith('acme.') }),
  ).toThrow(/accord.platform.Env is outside this output and no module to import it from was given/);
});

test('every event inlines the envelope, and the catalog matches the generated constants', () => {
  const entries = loadSchemaCatalog(join(ROOT, 'schemas'));
  const placed = entries.find((e) => e.fullName === 'accord.commerce.OrderPlaced');
  expect(placed?.file).toBe('commerce/OrderPlaced.avsc');
  const fields = (placed?.json as { fields: { name: string; type: unknown }[] } | undefined)?.fields ?? [];
  expect(fields[0]).toMatchObject({ name: 'envelope', type: { type: 'record', name: 'EventEnvelope' } });
  for (const entry of entries.filter((e) => !e.fullName.startsWith('accord.platform.')))
    expect(DOMAIN_SCHEMAS[entry.fullName as keyof typeof DOMAIN_SCHEMAS]).toEqual(entry.json);
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
