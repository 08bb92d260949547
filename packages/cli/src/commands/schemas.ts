import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type CatalogEntry,
  CODEGEN_FILE,
  generateSchemaTypes,
  loadSchemaCatalog,
  registerSchemaCatalog,
} from '@accord/schema-tools';
import {
  exportRegistry,
  importRegistry,
  REPLAYABLE_DEFAULT_MODE,
  type RegistryExport,
  RegistryHttpClient,
  resolveConfig,
  UsageError,
} from '@accord/sdk';
import { type Command, type CommandContext, formatTable } from '../command';
import { projectRoot } from '../stack/paths';

const HELP = `Subcommands:
  check      compare schemas/ with the registry; exit 1 naming every incompatible change
  register   register every schema of schemas/ (subject = record full name, mode ${REPLAYABLE_DEFAULT_MODE})
  list       subjects in the registry with their versions and compatibility mode
  generate   regenerate the TypeScript types of each target of ${CODEGEN_FILE} (--check: exit 1 when stale)
  export     every live subject version (ids, versions, schemas as registered, references, metadata, rule
             sets) and the configs, as JSON (--out <file>, default stdout): from Accord's registry or Confluent's
  import <file>
             registers an export into a registry in IMPORT mode, ids and versions kept, referenced schemas
             first, then its configs; restores the mode it found. A target that already holds subjects
             needs --force; versions already there with the same id are counted, not registered again.

Options:
  --dir <path>       the schemas folder (default <project>/schemas)
  --json             machine-readable output (check, register, list, import)
  --check            with generate: only compare
  --registry <url>   the registry to talk to (default SCHEMA_REGISTRY_URL)
  --out <file>       with export: where to write (mode 0600)
  --force            with import: import into a registry that already holds subjects

Environment:
  SCHEMA_REGISTRY_URL   the registry (default http://127.0.0.1:8081); Confluent's own server works too

Subjects follow RecordNameStrategy: the subject of accord.commerce.OrderPlaced is "accord.commerce.OrderPlaced",
so a topic can carry several event types. New subjects get ${REPLAYABLE_DEFAULT_MODE}: replay reads old events
with new code, so every new version must read every earlier one.`;

function catalog(values: CommandContext['values']): CatalogEntry[] {
  const dir = typeof values.dir === 'string' ? resolve(values.dir) : join(projectRoot(), 'schemas');
  return loadSchemaCatalog(dir);
}

function registryUrl(values: CommandContext['values']): string {
  if (typeof values.registry === 'string') {
    try {
      const url = new URL(values.registry);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new UsageError(`--registry must be an http(s) URL, got "${values.registry}"`);
    }
    return values.registry;
  }
  return resolveConfig().schemaRegistry.url;
}

let chosenUrl: string | undefined;
function client(): RegistryHttpClient {
  return new RegistryHttpClient(chosenUrl ?? resolveConfig().schemaRegistry.url);
}

async function exportSchemas(ctx: CommandContext): Promise<number> {
  const url = chosenUrl as string;
  const data = await exportRegistry(client(), url);
  const text = `${JSON.stringify(data, null, 2)}\n`;
  const versions = data.subjects.reduce((n, s) => n + s.versions.length, 0);
  if (typeof ctx.values.out === 'string') {
    writeFileSync(ctx.values.out, text, { mode: 0o600 });
    ctx.err(
      `exported ${data.subjects.length} subject(s), ${versions} version(s) from ${url} to ${ctx.values.out}`,
    );
  } else ctx.out(text.trimEnd());
  return 0;
}

async function importSchemas(ctx: CommandContext, file: string | undefined): Promise<number> {
  if (!file)
    throw new UsageError('accord schemas import needs the export file: accord schemas import <file>');
  let data: RegistryExport;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as RegistryExport;
  } catch (error) {
    throw new UsageError(`cannot read ${file} as an export: ${(error as Error).message}`);
  }
  const result = await importRegistry(client(), data, {
    force: Boolean(ctx.values.force),
    onProgress: (done, total) => {
      if (done === total || done % 100 === 0) ctx.err(`  imported ${done}/${total} version(s)`);
    },
  });
  if (ctx.values.json) ctx.out(JSON.stringify(result));
  else
    ctx.out(
      `imported ${result.imported} version(s) of ${result.subjects} subject(s) into ${chosenUrl}; ${result.existing} already there with the same id`,
    );
  return 0;
}

async function check(ctx: CommandContext): Promise<number> {
  const registry = client();
  const results: {
    subject: string;
    status: 'new' | 'unchanged' | 'compatible' | 'INCOMPATIBLE';
    messages: string[];
  }[] = [];
  for (const entry of catalog(ctx.values)) {
    const schema = JSON.stringify(entry.json);
    const existing = await registry.lookup(entry.fullName, schema);
    if (existing) {
      results.push({ subject: entry.fullName, status: 'unchanged', messages: [] });
      continue;
    }
    const versions = await registry.versions(entry.fullName).catch(() => [] as number[]);
    if (versions.length === 0) {
      results.push({ subject: entry.fullName, status: 'new', messages: [] });
      continue;
    }
    const verdict = await registry.testCompatibility(entry.fullName, schema);
    results.push({
      subject: entry.fullName,
      status: verdict.is_compatible ? 'compatible' : 'INCOMPATIBLE',
      messages: verdict.messages,
    });
  }
  const bad = results.filter((r) => r.status === 'INCOMPATIBLE');
  if (ctx.values.json) ctx.out(JSON.stringify(results, null, 2));
  else {
    for (const line of formatTable(
      results.map((r) => ({ subject: r.subject, status: r.status })),
      ['subject', 'status'],
    )) {
      ctx.out(line);
    }
    for (const r of bad) for (const m of r.messages) ctx.err(`incompatible: ${m}`);
  }
  if (bad.length) {
    ctx.err(
      `accord schemas check: ${bad.length} incompatible schema(s): ${bad.map((b) => b.subject).join(', ')}`,
    );
    return 1;
  }
  return 0;
}

async function register(ctx: CommandContext): Promise<number> {
  const rows = await registerSchemaCatalog(
    chosenUrl ?? resolveConfig().schemaRegistry.url,
    catalog(ctx.values),
  );
  if (ctx.values.json) ctx.out(JSON.stringify(rows, null, 2));
  else {
    const table = rows.map((r) => ({ ...r, id: String(r.id), version: String(r.version) }));
    for (const line of formatTable(table, ['subject', 'version', 'id', 'action'])) ctx.out(line);
  }
  return 0;
}

async function list(ctx: CommandContext): Promise<number> {
  const registry = client();
  const global = await registry.globalCompatibility();
  const rows = [];
  for (const subject of await registry.subjects()) {
    const versions = await registry.versions(subject);
    const latest = await registry.version(subject, 'latest');
    const mode = (await registry.subjectCompatibility(subject)) ?? global;
    rows.push({ subject, versions, latestId: latest.id, compatibility: mode });
  }
  if (ctx.values.json) ctx.out(JSON.stringify(rows, null, 2));
  else {
    const table = rows.map((r) => ({
      subject: r.subject,
      versions: r.versions.join(','),
      'latest id': String(r.latestId),
      compatibility: r.compatibility,
    }));
    for (const line of formatTable(table, ['subject', 'versions', 'latest id', 'compatibility']))
      ctx.out(line);
    ctx.out(`(${rows.length} subject(s); global compatibility ${global})`);
  }
  return 0;
}

function generate(ctx: CommandContext): number {
  const results = generateSchemaTypes(projectRoot(), { check: Boolean(ctx.values.check) });
  let stale = 0;
  for (const result of results) {
    if (ctx.values.check && !result.upToDate) {
      stale++;
      ctx.err(`accord schemas generate: ${result.path} is stale: run accord schemas generate`);
    } else if (ctx.values.check) ctx.out(`${result.path} is up to date (${result.schemas} schemas)`);
    else ctx.out(`${result.upToDate ? 'unchanged' : 'wrote'} ${result.path} (${result.schemas} schemas)`);
  }
  return stale ? 1 : 0;
}

export const schemasCommand: Command = {
  name: 'schemas',
  summary: 'check, register and list Avro schemas; generate their TypeScript types',
  usage:
    'accord schemas check|register|list|generate|export|import [<file>] [--dir <path>] [--registry <url>] [--out <file>] [--force] [--json] [--check]',
  help: HELP,
  options: {
    dir: { type: 'string' },
    json: { type: 'boolean' },
    check: { type: 'boolean' },
    registry: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
  },
  async run(ctx) {
    const [sub, ...extra] = ctx.positionals;
    chosenUrl = registryUrl(ctx.values);
    if (sub === 'import') {
      if (extra.length > 1)
        throw new UsageError(`unexpected argument "${extra[1]}" (see: accord schemas --help)`);
      return importSchemas(ctx, extra[0]);
    }
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (see: accord schemas --help)`);
    switch (sub) {
      case 'export':
        return exportSchemas(ctx);
      case 'check':
        return check(ctx);
      case 'register':
        return register(ctx);
      case 'list':
        return list(ctx);
      case 'generate':
        return generate(ctx);
      case undefined:
        throw new UsageError(
          'missing subcommand: check, register, list, generate, export or import (see: accord schemas --help)',
        );
      default:
        throw new UsageError(
          `unknown subcommand "${sub}": use check, register, list, generate, export or import`,
        );
    }
  },
};
