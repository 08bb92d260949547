import type { ResolvedConfig } from '../config';
import { AccordError } from '../errors';
import type { SomeCatalog } from '../events/catalog';
import type { SqlClient, SqlPool } from '../infra/sql';
import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import type { ProposerCheck } from './identity';

export interface Proposal {
  proposalId: string;
  entityType: string;
  entityId: string;
  agent: string;
  action: string;
  change: Record<string, unknown>;
  expectedVersion: number | null;
  idempotencyKey: string;
  reason: string | null;
  context: Record<string, unknown> | null;
  proposedAt: number;
  /** The event that led to the proposal, and the conversation it belongs to (from its envelope). */
  causationId?: string | null;
  correlationId?: string | null;
  /** What the owner found of its signature (owners check it before judging). */
  proposer?: ProposerCheck;
}

export interface EntityState {
  version: number;
  state: Record<string, unknown>;
}

export type Verdict =
  | {
      outcome: 'ACCEPTED';
      state: Record<string, unknown>;
      reason?: string;
      contractVersions?: string[];
      /** This decision undoes an earlier one (a rollback): counted, and said in the reason. */
      compensates?: string;
    }
  | { outcome: 'REJECTED' | 'ESCALATED'; reason: string; contractVersions?: string[] };

export interface DecideContext {
  proposal: Proposal;
  current: EntityState;
  /** The owner's transaction: reads (contracts over SQL, other facts) see the same snapshot it writes in. */
  tx: SqlClient;
}

export interface OwnerOptions {
  entityType: string;
  /** The owner's decision. Runs after duplicates and stale versions were refused. */
  decide: (ctx: DecideContext) => Promise<Verdict> | Verdict;
  /** Consumer group; default owner-<entityType>. */
  group?: string;
  /** Defaults to <domain>.<entity>.proposals, the domain taken from the catalog. */
  topic?: string;
  /** The domain's catalog (defineCatalog): names the proposals topic. Needed unless `topic` is given. */
  catalog?: SomeCatalog;
  config?: ResolvedConfig;
  /**
   * Let a stale proposal through when its change touches none of the fields changed since the version
   * it expected (the changes commute); otherwise stale proposals are refused (first valid one wins).
   */
  mergeCommuting?: boolean;
  /**
   * Agents by rank, highest first (e.g. the reference REFERENCE_PRIORITY): a stale proposal from an agent
   * that outranks every agent whose accepted changes it missed is decided on the current state instead of
   * being refused as stale.
   */
  priority?: readonly string[];
  /** Postgres as the owner's role (accord_owner_<entity>). */
  pool: SqlPool;
  /**
   * Whose proposals it judges. 'when-registered' (default): a proposal in the name of an agent with a
   * registered key must carry that agent's signature, others are judged as before; 'required': every
   * proposal must be signed by a registered agent. Refusals are audited decisions (identity.ts).
   */
  proposers?: 'when-registered' | 'required';
  /**
   * Partitions of the proposals topic decided at once, each in its own transaction and still in order
   * (one entity's proposals are on one partition). Default 4; the pool needs as many free connections.
   */
  partitionsAtOnce?: number;
  /** Log lines of the owner's pipeline. Default: the process's logger. */
  logger?: Logger;
  /** Lifecycle events of the owner's pipeline, and `decided` for each committed decision. */
  telemetry?: Telemetry;
}

export function table(entityType: string, kind: 'entities' | 'proposals' | 'decisions' | 'outbox'): string {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(entityType))
    throw new AccordError('CONFIG_INVALID', `invalid entity type "${entityType}"`);
  return `"${entityType}_${kind}"`;
}
