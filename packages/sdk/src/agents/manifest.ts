import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { topicNamespace } from '../events/topics';

/**
 * An agent's deployment manifest (YAML): what runs, how many, what it consumes from where, what it may
 * propose and read, its freshness objectives and environment. Validated by schema; an error names the
 * file, the line and the field. The manifest is the contract `accord deploy` checks before anything runs.
 */
const NAME = /^[a-z][a-z0-9_]{0,40}$/;
const StartPosition = z.union([
  z.enum(['earliest', 'latest']),
  z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be earliest, latest or an ISO time'),
]);
const Manifest = z.strictObject({
  name: z.string().regex(NAME, 'must be lower-case letters, digits and _ (at most 41 characters)'),
  version: z
    .union([z.string().min(1), z.number()])
    .transform(String)
    .optional(),
  entry: z.string().min(1, 'must name the module that default-exports defineAgent(...)'),
  replicas: z.int().min(1, 'must be at least 1').max(64, 'must be at most 64').default(1),
  consumes: z
    .array(z.strictObject({ topic: z.string().min(1), from: StartPosition.default('earliest') }))
    .min(1, 'must list at least one topic'),
  proposes: z.array(z.string().regex(NAME, 'must be an entity type')).default([]),
  emits: z.array(z.string().min(1)).default([]),
  reads: z
    .strictObject({
      features: z.array(z.string().min(1)).default([]),
      contracts: z
        .array(z.string().regex(/^[a-z][a-z0-9_]*@\d+$/, 'must be a pinned contract, e.g. available_item@2'))
        .default([]),
    })
    .default({ features: [], contracts: [] }),
  freshness: z.record(z.string(), z.int().min(0, 'must be a staleness in ms')).default({}),
  env: z
    .record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name'), z.string())
    .default({}),
  /** A module that exports the feature views the agent reads (`views` or default), next to the manifest. */
  views: z.string().min(1).optional(),
  /**
   * Events of different entities a replica handles at once within a partition, each entity's in order
   * (the pipeline's keyConcurrency; default 1). An agent that waits for its decisions otherwise holds its
   * partition for every round trip: the fulfillment agent fell seconds behind on a slow box.
   */
  keyConcurrency: z.int().min(1, 'must be at least 1').max(256, 'must be at most 256').optional(),
  /** Partitions a replica handles at once, each still in order (default 1). */
  partitionsAtOnce: z.int().min(1, 'must be at least 1').max(64, 'must be at most 64').optional(),
  /** Where proposals to an entity type go, when not the catalog's <domain>.<entity>.proposals. */
  proposalTopics: z.record(z.string().regex(NAME, 'must be an entity type'), z.string().min(1)).default({}),
});

export type AgentManifest = z.output<typeof Manifest> & {
  /** The file it was read from, and the entry module resolved against it. */
  file: string;
  entryPath: string;
  /** The views module resolved against the file, when given. */
  viewsPath?: string;
  /** Changes whenever anything in the manifest changes: what a rolling update compares. */
  digest: string;
};

/** Parses and validates a manifest's text; `file` names it in errors. */
export function parseManifest(text: string, file: string): AgentManifest {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const { line } = lines.linePos(e.pos[0]);
    throw new ConfigError(`${file}:${line}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  if (!isMap(doc.contents))
    throw new ConfigError(`${file}:1: a manifest is a mapping (name:, entry:, consumes:, …)`);
  const result = Manifest.safeParse(doc.toJS(), { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // An unknown field is named by its own path: that is the line to point at.
    const unknown = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys[0] : undefined;
    const fieldPath = unknown === undefined ? issue.path : [...issue.path, unknown];
    // The line of the deepest node of the path that exists in the document (the field, or its parent).
    let path = fieldPath.map((p) => (typeof p === 'number' ? p : String(p)));
    let node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    while (!node?.range && path.length) {
      path = path.slice(0, -1);
      node = (path.length ? doc.getIn(path, true) : doc.contents) as typeof node;
    }
    const line = node?.range ? lines.linePos(node.range[0]).line : 1;
    const field = fieldPath.join('.') || '(manifest)';
    const input = (issue as { input?: unknown }).input;
    const got = input === undefined || typeof input === 'object' ? '' : ` (got ${JSON.stringify(input)})`;
    const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
    const message = unknown === undefined ? issue.message : 'unknown field';
    throw new ConfigError(`${file}:${line}: ${field}: ${message}${got}${more}`);
  }
  const manifest = inNamespace(result.data);
  for (const feature of Object.keys(manifest.freshness))
    if (!manifest.reads.features.includes(feature))
      throw new ConfigError(
        `${file}: freshness.${feature}: the agent does not read that feature (reads.features)`,
      );
  const entryPath = resolve(dirname(file), manifest.entry);
  const viewsPath = manifest.views ? resolve(dirname(file), manifest.views) : undefined;
  // The digest is over what runs (modules as absolute paths): the supervisor's copy of a manifest with
  // relative paths has the same digest as the manifest deployed.
  const resolved = { ...manifest, entry: entryPath, ...(viewsPath ? { views: viewsPath } : {}) };
  return {
    ...manifest,
    file,
    entryPath,
    ...(viewsPath ? { viewsPath } : {}),
    digest: createHash('sha256').update(JSON.stringify(resolved)).digest('hex').slice(0, 12),
  };
}

/**
 * Under ACCORD_TOPIC_NAMESPACE, the topics a manifest names are that namespace's (idempotent: a copy
 * already namespaced stays as it is).
 */
function inNamespace<M extends { consumes: { topic: string }[]; proposalTopics: Record<string, string> }>(
  m: M,
): M {
  const ns = topicNamespace();
  if (!ns) return m;
  const name = (t: string) => (t.startsWith(`${ns}.`) ? t : `${ns}.${t}`);
  return {
    ...m,
    consumes: m.consumes.map((c) => ({ ...c, topic: name(c.topic) })),
    proposalTopics: Object.fromEntries(Object.entries(m.proposalTopics).map(([e, t]) => [e, name(t)])),
  };
}

export function loadManifest(file: string): AgentManifest {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the manifest (${(error as Error).message})`);
  }
  return parseManifest(text, resolve(file));
}

/** The manifest as YAML with its modules as absolute paths: the copy a supervisor runs from. */
export function manifestToYaml(manifest: AgentManifest): string {
  const { file: _file, entryPath, viewsPath, digest: _digest, ...fields } = manifest;
  return stringify({ ...fields, entry: entryPath, ...(viewsPath ? { views: viewsPath } : {}) });
}
