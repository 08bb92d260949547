/**
 * The allowed imports between packages (docs/architecture.md), checked on every source file: a forbidden
 * import fails the suite, naming the file, the import and the rule.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const DRIVERS =
  /^(kafkajs|pg|ioredis|avsc|@kafkajs\/confluent-schema-registry|@confluentinc\/.*|@opentelemetry\/.*)$/;

/** Which package a repository path belongs to: packages/<name> or services/<name>. */
function packageOf(path: string): string | undefined {
  const [top, name] = path.split('/');
  return (top === 'packages' || top === 'services') && name ? `${top}/${name}` : undefined;
}

interface Rule {
  name: string;
  applies: (pkg: string) => boolean;
  forbids: (specifier: string, target: string | undefined) => boolean;
}

const RULES: Rule[] = [
  {
    name: 'only the SDK imports infrastructure clients (kafkajs, pg, ioredis, avsc, the registry client, OpenTelemetry); the test harness observes the stack with them',
    applies: (pkg) => pkg !== 'packages/sdk' && pkg !== 'packages/testing',
    forbids: (spec) => DRIVERS.test(spec),
  },
  {
    name: 'the SDK depends on no other package of ours (not the CLI, the test harness or a service)',
    applies: (pkg) => pkg === 'packages/sdk',
    forbids: (spec, target) => spec.startsWith('@accord/') || target !== undefined,
  },
  {
    name: 'the reference domain and the schema tools build on the SDK only',
    applies: (pkg) => pkg === 'packages/reference' || pkg === 'packages/schema-tools',
    forbids: (spec, target) =>
      (spec.startsWith('@accord/') && spec !== '@accord/sdk') || target !== undefined,
  },
  {
    name: 'services depend on the SDK (its faces) and the reference domain only: never on the CLI, the tools, the test harness or another service',
    applies: (pkg) => pkg.startsWith('services/'),
    // `target` is set only for a relative import that leaves the file's own package.
    forbids: (spec, target) =>
      (spec.startsWith('@accord/') &&
        !['@accord/sdk', '@accord/sdk/ops', '@accord/sdk/register', '@accord/reference'].includes(spec)) ||
      target !== undefined,
  },
  {
    name: 'the CLI reaches the platform through the SDK faces and the schema tools only (domain-free: it reads schemas/)',
    applies: (pkg) => pkg === 'packages/cli',
    forbids: (spec, target) =>
      (spec.startsWith('@accord/') &&
        !['@accord/sdk', '@accord/sdk/ops', '@accord/sdk/register', '@accord/schema-tools'].includes(spec)) ||
      target !== undefined,
  },
  {
    name: 'no deep imports into a package: only its public faces',
    applies: () => true,
    forbids: (spec) => /^@accord\/[^/]+\/(dist|src)(\/|$)/.test(spec),
  },
];

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

/** Violations in one file: `path` is relative to the repository root. */
function violations(path: string, source: string): string[] {
  const pkg = packageOf(path);
  if (!pkg) return [];
  const found: string[] = [];
  for (const spec of importsOf(source)) {
    const target = spec.startsWith('.')
      ? packageOf(
          relative(ROOT, resolve(ROOT, path, '..', spec))
            .split(sep)
            .join('/'),
        )
      : undefined;
    const crossing = target !== undefined && target !== pkg ? target : undefined;
    for (const rule of RULES)
      if (rule.applies(pkg) && rule.forbids(spec, crossing))
        found.push(`${path}: import '${spec}' breaks: ${rule.name}`);
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|js)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

test('every source file of every package keeps to the import rules', () => {
  const files = ['packages', 'services'].flatMap((top) =>
    readdirSync(join(ROOT, top)).flatMap((name) => {
      const src = join(ROOT, top, name, 'src');
      try {
        return statSync(src).isDirectory() ? sourceFiles(src) : [];
      } catch {
        return [];
      }
    }),
  );
  expect(files.length).toBeGreaterThan(50);
  const found = files.flatMap((f) =>
    violations(relative(ROOT, f).split(sep).join('/'), readFileSync(f, 'utf8')),
  );
  expect(found).toEqual([]);
});

test('the checker catches what the rules forbid', () => {
  expect(violations('packages/cli/src/commands/x.ts', "import type { Admin } from 'kafkajs';")).toEqual([
    expect.stringContaining('only the SDK imports infrastructure clients'),
  ]);
  expect(
    violations('packages/sdk/src/a.ts', "import { x } from '../../../services/archive/src/archive';"),
  ).toEqual([expect.stringContaining('the SDK depends on no other package')]);
  expect(violations('packages/sdk/src/a.ts', "import { main } from '@accord/cli';")).toHaveLength(1);
  expect(violations('services/archive/src/main.ts', "const cli = require('@accord/cli');")).toEqual([
    expect.stringContaining('services depend on the SDK (its faces) and the reference domain only'),
  ]);
  expect(
    violations('services/features/src/main.ts', "import { x } from '@accord/schema-tools';"),
  ).toHaveLength(1);
  expect(violations('services/features/src/main.ts', "import { x } from '@accord/reference';")).toEqual([]);
  // The platform never knows the reference domain; the CLI reads any domain from schemas/.
  expect(violations('packages/sdk/src/index.ts', "import { SCHEMAS } from '@accord/reference';")).toEqual([
    expect.stringContaining('the SDK depends on no other package'),
  ]);
  expect(
    violations('packages/cli/src/main.ts', "import { referenceCatalog } from '@accord/reference';"),
  ).toEqual([expect.stringContaining('through the SDK faces and the schema tools only')]);
  expect(
    violations('packages/reference/src/views.ts', "import { x } from '@accord/schema-tools';"),
  ).toHaveLength(1);
  expect(violations('packages/testing/src/index.ts', "import type { Admin } from 'kafkajs';")).toEqual([]);
  expect(
    violations('packages/cli/src/main.ts', "import { x } from '@accord/sdk/dist/pipelines/pipeline';"),
  ).toEqual([
    expect.stringContaining('through the SDK faces and the schema tools only'),
    expect.stringContaining('no deep imports'),
  ]);
  expect(violations('packages/cli/src/main.ts', "import { Ops } from '@accord/sdk/ops';")).toEqual([]);
  expect(violations('packages/sdk/src/ops/index.ts', "import { x } from '../pipelines/control';")).toEqual(
    [],
  );
});
