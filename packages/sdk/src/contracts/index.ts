import { AccordError } from '../errors';
import type { SqlClient, SqlPool } from '../infra/sql';

/**
 * Semantic contracts: versioned business definitions (e.g. available_item@2) stored centrally in Postgres.
 * The SDK evaluates a definition here; owners evaluate the same row inside their transaction through SQL
 * (accord_contract()); both follow the same rules, and every golden case is checked through both paths.
 */
export type Expr = null | boolean | number | string | Expr[] | { [op: string]: Expr };

export interface Contract {
  name: string;
  version: number;
  owner: string;
  description: string;
  definition: Expr;
  goldenCases: { input: Record<string, unknown>; expected: boolean; why?: string }[];
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Evaluates a contract expression; the rules mirror accord_eval() in migration 0008 exactly. */
export function evaluate(expr: Expr, input: Record<string, unknown>): unknown {
  if (expr === null || typeof expr !== 'object' || Array.isArray(expr)) return expr;
  const [op] = Object.keys(expr);
  const args = (expr as Record<string, Expr>)[op ?? ''];
  switch (op) {
    case 'var':
      return input[String(args)] ?? null;
    case 'all':
      return (args as Expr[]).every((e) => evaluate(e, input) === true);
    case 'any':
      return (args as Expr[]).some((e) => evaluate(e, input) === true);
    case 'not':
      return evaluate(args as Expr, input) !== true;
  }
  const [x, y] = args as Expr[];
  const a = evaluate(x ?? null, input);
  const b = evaluate(y ?? null, input);
  if (op === 'eq') return equal(a, b);
  const na = num(a);
  const nb = num(b);
  if (na === undefined || nb === undefined)
    return op === 'add' || op === 'sub' || op === 'mul' ? null : false;
  switch (op) {
    case 'gt':
      return na > nb;
    case 'gte':
      return na >= nb;
    case 'lt':
      return na < nb;
    case 'lte':
      return na <= nb;
    case 'add':
      return na + nb;
    case 'sub':
      return na - nb;
    case 'mul':
      return na * nb;
    default:
      throw new AccordError('CONFIG_INVALID', `unknown contract operator "${op}"`);
  }
}

export function parseContractRef(ref: string): { name: string; version: number } {
  const m = /^([a-z][a-z0-9_]*)@(\d+)$/.exec(ref);
  if (!m)
    throw new AccordError(
      'CONFIG_INVALID',
      `contract reference "${ref}" must look like available_item@2 (a version is always pinned)`,
    );
  return { name: m[1]!, version: Number(m[2]) };
}

export class ContractStore {
  private readonly cache = new Map<string, Contract>();
  constructor(private readonly pool: SqlPool | SqlClient) {}

  async list(): Promise<Contract[]> {
    const { rows } = await this.pool.query<Contract>(
      `select name, version, owner, description, definition, golden_cases as "goldenCases" from contracts order by name, version`,
    );
    return rows;
  }

  async get(ref: string): Promise<Contract> {
    const cached = this.cache.get(ref);
    if (cached) return cached;
    const { name, version } = parseContractRef(ref);
    const { rows } = await this.pool.query<Contract>(
      `select name, version, owner, description, definition, golden_cases as "goldenCases" from contracts where name = $1 and version = $2`,
      [name, version],
    );
    if (!rows[0]) throw new AccordError('CONFIG_INVALID', `unknown contract ${ref}`);
    this.cache.set(ref, rows[0]); // versions are immutable: a change is a new version
    return rows[0];
  }

  /** Evaluates `name@version` (pinned) on an input: true or false. */
  async holds(ref: string, input: Record<string, unknown>): Promise<boolean> {
    return evaluate((await this.get(ref)).definition, input) === true;
  }
}

export interface GoldenCaseResult {
  contract: string;
  input: Record<string, unknown>;
  expected: boolean;
  sdk: boolean;
  sql: boolean;
  ok: boolean;
  why?: string;
}

/** Runs every golden case (or one contract's) through the SDK and through SQL. */
export async function runGoldenCases(pool: SqlPool, ref?: string): Promise<GoldenCaseResult[]> {
  const store = new ContractStore(pool);
  const contracts = ref ? [await store.get(ref)] : await store.list();
  const results: GoldenCaseResult[] = [];
  for (const c of contracts) {
    for (const g of c.goldenCases) {
      const sdk = evaluate(c.definition, g.input) === true;
      const { rows } = await pool.query<{ holds: boolean }>('select accord_contract($1, $2, $3) as holds', [
        c.name,
        c.version,
        JSON.stringify(g.input),
      ]);
      const sql = rows[0]?.holds === true;
      results.push({
        contract: `${c.name}@${c.version}`,
        input: g.input,
        expected: g.expected,
        sdk,
        sql,
        ok: sdk === g.expected && sql === g.expected,
        ...(g.why ? { why: g.why } : {}),
      });
    }
  }
  return results;
}
