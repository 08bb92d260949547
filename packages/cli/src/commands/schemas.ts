import { join, resolve } from 'node:path';
import {
  type CatalogEntry,
  CODEGEN_FILE,
  generateSchemaTypes,
  loadSchemaCatalog,
  registerSchemaCatalog,
} from '@accord/schema-tools';
import { REPLAYABLE_DEFAULT_MODE, RegistryHttpClient, resolveConfig, UsageError } from '@accord/sdk';
import { type Command, type CommandContext, formatTable } from '../command';
import { projectRoot } from '../stack/paths';

const HELP = `Subcommands:
  check      compare schemas/ with the registry; exit 1 naming every incompatible change
  register   register every schema of schemas/ (subject = record full name, mode ${REPLAYABLE_DEFAULT_MODE})
  list       subjects in the registry with their versions and compatibility mode
  generate   regenerate the TypeScript types of each target of ${CODEGEN_FILE} (--check: exit 1 when stale)

Options:
  --dir <path>   the schemas folder (default <project>/schemas)
  --json         machine-readable output (check, register, list)
  --check        with generate: only compare

Environment:
  SCHEMA_REGISTRY_URL   the registry (default http://127.0.0.1:8081); Confluent's own server works too

Subjects follow RecordNameStrategy: the subject of accord.commerce.OrderPlaced is "accord.commerce.OrderPlaced",
so a topic can carry several event types. New subjects get ${REPLAYABLE_DEFAULT_MODE}: replay reads old events
with new code, so every new version must read every earlier one.`;

function catalog(values: CommandContext['values']): CatalogEntry[] {
  const dir = typeof values.dir === 'string' ? resolve(values.dir) : join(projectRoot(), 'schemas');
  return loadSchemaCatalog(dir);
}

function client(): RegistryHttpClient {
  return new RegistryHttpClient(resolveConfig().schemaRegistry.url);
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
  const rows = await registerSchemaCatalog(resolveConfig().schemaRegistry.url, catalog(ctx.values));
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
  usage: 'accord schemas check|register|list|generate [--dir <path>] [--json] [--check]',
  help: HELP,
  options: { dir: { type: 'string' }, json: { type: 'boolean' }, check: { type: 'boolean' } },
  async run(ctx) {
    const [sub, ...extra] = ctx.positionals;
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (see: accord schemas --help)`);
    switch (sub) {
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
          'missing subcommand: check, register, list or generate (see: accord schemas --help)',
        );
      default:
        throw new UsageError(`unknown subcommand "${sub}": use check, register, list or generate`);
    }
  },
};
