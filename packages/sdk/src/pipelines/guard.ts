import type { Admin } from 'kafkajs';
import { describeError } from '../errors';
import { fetchLogIdentity, type KafkaEndpoint } from '../infra/kafka-metadata';
import { withRetry } from '../infra/retry';
import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import type { CheckpointStore, Claim, Incident, LogRef } from './checkpoints';
import {
  checkPosition,
  describeVerdict,
  type OutOfRangePolicy,
  outOfRangeAction,
  rebindHint,
} from './log-check';
import type { PartitionState } from './types';

export interface GuardOptions {
  admin: () => Admin;
  store: CheckpointStore;
  kafka: KafkaEndpoint;
  pipeline: string;
  group: string;
  policy: OutOfRangePolicy;
  log: Logger;
  telemetry: Telemetry;
  /** Counts an incident (the pipeline's stats). */
  counted: () => void;
}

export type GuardResult =
  | { kind: 'proceed'; next: bigint }
  | { kind: 'halted'; reason: string }
  /** Another instance claimed the partition meanwhile. */
  | { kind: 'fenced' };

/** Live identities are cached briefly: a rebalance claims many partitions of the same topics at once. */
const REF_TTL_MS = 2000;

/**
 * The checks a pipeline runs on every partition it claims: is the checkpoint in the log it was written
 * for, and inside it? Never a silent seek: a changed identity halts the partition until an operator
 * rebinds it; an offset outside the log is halted or moved by the policy; either way a row in
 * pipeline_incidents and a log line say so.
 */
export class PartitionGuard {
  private readonly refs = new Map<string, { ref: LogRef; at: number }>();
  private fallbackNoted = false;

  constructor(private readonly options: GuardOptions) {}

  /**
   * Claims a partition (a new epoch fences the previous holder) and checks that its checkpoint points
   * into this log. A partition without a checkpoint starts at the log's start or end (`from`).
   */
  async claim(
    topic: string,
    partition: number,
    from: 'earliest' | 'latest',
  ): Promise<{ kind: 'proceed'; state: PartitionState } | { kind: 'halted' } | { kind: 'fenced' }> {
    // The partition's offsets: where a new row starts, and the range the check uses.
    const admin = this.options.admin();
    const offsets = async () => {
      const range = (await withRetry(() => admin.fetchTopicOffsets(topic))).find(
        (o) => o.partition === partition,
      );
      return { low: range?.low ?? '0', high: range?.high ?? '0' };
    };
    let bounds = await offsets();
    const log = await this.liveRef(topic);
    const { pipeline, group, store } = this.options;
    const claim = await store.claim(
      pipeline,
      group,
      topic,
      partition,
      from === 'latest' ? bounds.high : bounds.low,
      log,
    );
    // Read before the claim, the log end can be behind a checkpoint another instance moved meanwhile over
    // events appended meanwhile (two members trading a partition in a rebalance): read it again rather
    // than take a live checkpoint for one past the end (which halts the partition).
    if (claim.offset > BigInt(bounds.high)) bounds = await offsets();
    const checked = await this.check(topic, partition, claim, bounds);
    if (checked.kind !== 'proceed') return { kind: checked.kind };
    return {
      kind: 'proceed',
      state: {
        epoch: claim.epoch,
        next: checked.next,
        logId: log.topicId ?? log.clusterId,
        ...(claim.replayResume === undefined ? {} : { replayResume: claim.replayResume }),
        ...(claim.replayUntil === undefined ? {} : { replayUntil: claim.replayUntil }),
        ...(claim.replayId === undefined ? {} : { replayId: claim.replayId }),
      },
    };
  }

  /** Every incident, after it was recorded: told on the seam, counted, and always logged. */
  private report(incident: Incident): void {
    this.options.counted();
    this.options.telemetry.emit({ type: 'incident', incident });
    this.options.log.warn(
      { incident: incident.kind, topic: incident.topic, partition: incident.partition },
      incident.detail,
    );
  }

  /** The identity of the log a topic has now. */
  async liveRef(topic: string): Promise<LogRef> {
    const cached = this.refs.get(topic);
    if (cached && Date.now() - cached.at < REF_TTL_MS) return cached.ref;
    let ref: LogRef;
    try {
      const identity = await fetchLogIdentity(this.options.kafka, [topic]);
      ref = { clusterId: identity.clusterId, topicId: identity.topics.get(topic)?.topicId ?? null };
    } catch (error) {
      // No answer to Metadata v12 (e.g. a listener it cannot speak to): the cluster id alone guards.
      const { clusterId } = await this.options.admin().describeCluster();
      if (!this.fallbackNoted) {
        this.fallbackNoted = true;
        this.options.log.warn(
          { reason: describeError(error) },
          'topic ids unavailable; checkpoints are bound to the cluster id only',
        );
      }
      ref = { clusterId, topicId: null };
    }
    this.refs.set(topic, { ref, at: Date.now() });
    return ref;
  }

  /** Checks a claimed checkpoint against the live log (`range`: the partition's offsets, read by the caller). */
  async check(
    topic: string,
    partition: number,
    claim: Claim,
    range: { low: string; high: string },
  ): Promise<GuardResult> {
    const { store, group, pipeline, policy } = this.options;
    const live = await this.liveRef(topic);
    const facts = {
      checkpoint: claim.offset,
      saved: claim.log,
      live,
      logStart: BigInt(range.low),
      logEnd: BigInt(range.high),
    };
    const position = { group, topic, partition, epoch: claim.epoch };
    const verdict = checkPosition(facts);
    const incident = (kind: Incident['kind'], action: Incident['action'], detail: string) =>
      ({
        pipeline,
        group,
        topic,
        partition,
        kind,
        action,
        checkpoint: facts.checkpoint.toString(),
        logStart: facts.logStart.toString(),
        logEnd: facts.logEnd.toString(),
        detail,
      }) satisfies Incident;
    const halt = async (kind: Incident['kind'], reason: string): Promise<GuardResult> => {
      const { updated, before } = await store.setHalted(position, reason);
      if (!updated) return { kind: 'fenced' };
      const found = incident(kind, 'halted', reason);
      // One row per halt, not one per rebalance that meets the same halted partition again.
      if (before !== reason) await store.recordIncident(found);
      this.report(found);
      return { kind: 'halted', reason };
    };
    const detail = describeVerdict(verdict, facts, group);
    switch (verdict.kind) {
      case 'ok':
        if (claim.haltedReason !== null && !(await store.setHalted(position, null)).updated)
          return { kind: 'fenced' };
        return { kind: 'proceed', next: facts.checkpoint };
      case 'unbound': {
        if (!(await store.bind(position, live))) return { kind: 'fenced' };
        const found = incident('bound', 'none', detail);
        await store.recordIncident(found);
        this.report(found);
        return { kind: 'proceed', next: facts.checkpoint };
      }
      case 'identity-changed':
        return halt('identity-changed', detail);
      case 'out-of-range': {
        const action = outOfRangeAction(policy, verdict.where, facts);
        if (action.action === 'halted')
          return halt('out-of-range', `${detail}; out-of-range policy is fail: ${rebindHint(group)}`);
        if (claim.log === null && !(await store.bind(position, live))) return { kind: 'fenced' };
        if (!(await store.moveOutOfRange(position, action.to))) return { kind: 'fenced' };
        const found = {
          ...incident(
            'out-of-range',
            'moved',
            `${detail}; policy earliest moved it to ${action.to}${action.lost > 0n ? `, ${action.lost} offset(s) lost` : ''}`,
          ),
          movedTo: action.to.toString(),
          lost: action.lost.toString(),
        };
        await store.recordIncident(found);
        this.report(found);
        return { kind: 'proceed', next: action.to };
      }
    }
  }
}
