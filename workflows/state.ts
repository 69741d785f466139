/**
 * The per-user pipeline's state, kept apart from the workflow's handlers so it can be reasoned about
 * (and unit-tested) as plain data. It holds references to logged events, never the events. Nothing
 * here may do I/O or read the clock: the caller passes time in.
 */
import type { ItemResult, StepItem } from '../activities/contract';
import { comparePositions, LOG_START, type LogPosition } from '../log/position';
import type { LogRef, LogSignalInput } from './definitions';

/** What the workflow knows of a pending event: its place in the log and what operators may see. */
export type PendingRef = Omit<LogRef, 'route'>;

interface LaneItem {
  readonly seq: number;
  readonly messageId: string;
  attempts: number;
  firstFailureAt?: number;
  lastError?: string;
  lastStatus?: number;
}

interface Lane {
  readonly destinationId: string;
  items: LaneItem[];
  nextAttemptAt?: number;
  delivered: number;
  aborted: number;
  filtered: number;
}

/** What one run hands to the next on continue-as-new. */
export interface PipelineCarry {
  readonly refs: readonly PendingRef[];
  readonly lanes: ReadonlyArray<{
    readonly destinationId: string;
    readonly items: readonly LaneItem[];
    /** Epoch ms before which the head must not be retried; carried so a hand-over does not cut a backoff short. */
    readonly nextAttemptAt?: number;
    readonly delivered: number;
    readonly aborted: number;
    readonly filtered: number;
  }>;
  /** [messageId, loggedAt epoch ms] of delivered-or-pending events inside the dedup window. */
  readonly seen: ReadonlyArray<readonly [string, number]>;
  /** The last log position applied: a relay that sends rows again after a crash is ignored up to here. */
  readonly applied: LogPosition;
}

export interface LaneSnapshot {
  readonly destinationId: string;
  readonly depth: number;
  readonly head?: {
    readonly seq: number;
    readonly messageId: string;
    readonly type: string;
    readonly event?: string;
    readonly receivedAt: string;
  };
  readonly attempts: number;
  readonly lastError?: string;
  readonly lastStatus?: number;
  readonly nextAttemptAt?: string;
  readonly delivered: number;
  readonly aborted: number;
  readonly filtered: number;
}

export interface DedupSettings {
  readonly windowMs: number;
  readonly maxEntries: number;
}

export class PipelineState {
  /** Events still owed to at least one lane, with how many lanes still hold them. */
  private readonly events = new Map<string, { ref: PendingRef; lanesLeft: number }>();
  private readonly lanes = new Map<string, Lane>();
  /** Insertion-ordered, so the oldest entries are pruned first. */
  private readonly seen = new Map<string, number>();
  private applied: LogPosition = LOG_START;
  private duplicates = 0;
  private relayRepeats = 0;

  constructor(
    private readonly dedup: DedupSettings,
    carry?: PipelineCarry,
  ) {
    if (!carry) return;
    this.applied = carry.applied;
    for (const [id, at] of carry.seen) this.seen.set(id, at);
    const byId = new Map(carry.refs.map((r) => [r.messageId, r]));
    for (const lane of carry.lanes) {
      this.lanes.set(lane.destinationId, {
        destinationId: lane.destinationId,
        items: lane.items.map((i) => ({ ...i })),
        nextAttemptAt: lane.nextAttemptAt,
        delivered: lane.delivered,
        aborted: lane.aborted,
        filtered: lane.filtered,
      });
      for (const item of lane.items) {
        const ref = byId.get(item.messageId);
        if (!ref) throw new Error(`carried lane ${lane.destinationId} references unknown event ${item.messageId}`);
        const held = this.events.get(item.messageId);
        if (held) held.lanesLeft += 1;
        else this.events.set(item.messageId, { ref, lanesLeft: 1 });
      }
    }
  }

  /**
   * Queues a signal's log rows on their lanes. Rows at or before the last applied position are a
   * relay sending again what this workflow already has; messageIds seen inside the dedup window are
   * a client sending an event twice. Both are dropped.
   */
  accept({ refs, routes }: LogSignalInput, nowMs: number): void {
    this.prune(nowMs);
    for (const ref of refs) {
      if (comparePositions(ref, this.applied) <= 0) {
        this.relayRepeats += 1;
        continue;
      }
      this.applied = { xid: ref.xid, seq: ref.seq };
      if (this.seen.has(ref.messageId) || this.events.has(ref.messageId)) {
        this.duplicates += 1;
        continue;
      }
      this.seen.set(ref.messageId, ref.loggedAt);
      const destinationIds = routes[ref.route] ?? [];
      if (destinationIds.length === 0) continue;
      const { route: _route, ...pending } = ref;
      this.events.set(ref.messageId, { ref: pending, lanesLeft: destinationIds.length });
      for (const destinationId of destinationIds) {
        this.lane(destinationId).items.push({ seq: ref.seq, messageId: ref.messageId, attempts: 0 });
      }
    }
    this.prune(nowMs);
  }

  laneIdsWithWork(): string[] {
    return [...this.lanes.values()].filter((l) => l.items.length > 0).map((l) => l.destinationId);
  }

  hasWork(): boolean {
    return this.events.size > 0;
  }

  pendingEvents(): number {
    return this.events.size;
  }

  duplicatesDropped(): number {
    return this.duplicates;
  }

  /** Rows a relay sent again (after a crash or a hand-over of its buckets), dropped. */
  relayRepeatsDropped(): number {
    return this.relayRepeats;
  }

  /** The last log position this workflow applied. */
  appliedPosition(): LogPosition {
    return this.applied;
  }

  /** When the oldest pending event was logged, epoch ms; undefined when nothing is pending. */
  oldestPendingLoggedAt(): number | undefined {
    let oldest: number | undefined;
    for (const { ref } of this.events.values()) if (oldest === undefined || ref.loggedAt < oldest) oldest = ref.loggedAt;
    return oldest;
  }

  /** The lane's head items for the next delivery step, up to `max`, in order. */
  head(destinationId: string, max: number): StepItem[] {
    return this.lane(destinationId)
      .items.slice(0, max)
      .map((item) => ({ seq: item.seq, messageId: item.messageId, attempts: item.attempts, firstFailureAt: item.firstFailureAt }));
  }

  /** Settles the lane's head items in order: delivered, filtered or aborted (the step has dead-lettered those). */
  applyResults(destinationId: string, results: readonly ItemResult[]): void {
    const lane = this.lane(destinationId);
    for (const result of results) {
      const item = lane.items[0];
      if (!item || item.messageId !== result.messageId) {
        throw new Error(`result for ${result.messageId} does not match the head of lane ${destinationId}`);
      }
      lane.items.shift();
      if (result.outcome === 'delivered') lane.delivered += 1;
      else if (result.outcome === 'filtered') lane.filtered += 1;
      else lane.aborted += 1;
      this.release(item.messageId);
    }
    if (results.length > 0) lane.nextAttemptAt = undefined;
  }

  /**
   * Records a failed attempt on the lane's head item and when the lane may try again. A failure that
   * is not the destination's answer (`counts: false`, e.g. Ferry's own database away) does not use up
   * the destination's retry budget.
   */
  recordFailure(
    destinationId: string,
    failure: { messageId?: string; error: string; status?: number; failedAt: number; retryAt: number; counts?: boolean },
  ): void {
    const lane = this.lane(destinationId);
    const head = lane.items[0];
    if (!head) return;
    if (failure.messageId !== undefined && failure.messageId !== head.messageId) {
      throw new Error(`failure for ${failure.messageId} does not match the head of lane ${destinationId}`);
    }
    if (failure.counts !== false) {
      head.attempts += 1;
      head.firstFailureAt ??= failure.failedAt;
    }
    head.lastError = failure.error;
    head.lastStatus = failure.status;
    lane.nextAttemptAt = failure.retryAt;
  }

  /**
   * A pause held the lane for `ms`: its head's retry window moves on by as much, so that time spent
   * paused does not count against the destination's retry budget.
   */
  extendRetryWindow(destinationId: string, ms: number): void {
    const head = this.lane(destinationId).items[0];
    if (head?.firstFailureAt !== undefined) head.firstFailureAt += ms;
  }

  /** How long the lane must still wait before retrying its head (0 when it may go now). */
  retryWaitMs(destinationId: string, nowMs: number): number {
    const at = this.lane(destinationId).nextAttemptAt;
    return at === undefined ? 0 : Math.max(0, at - nowMs);
  }

  /** Destinations whose head event has failed at least once: the lanes an operator should look at. */
  stuckDestinations(): string[] {
    return [...this.lanes.values()]
      .filter((l) => l.items[0] !== undefined && (l.items[0].attempts > 0 || l.items[0].lastError !== undefined))
      .map((l) => l.destinationId)
      .sort();
  }

  snapshot(): LaneSnapshot[] {
    return [...this.lanes.values()].map((lane) => {
      const head = lane.items[0];
      const ref = head && this.events.get(head.messageId)?.ref;
      return {
        destinationId: lane.destinationId,
        depth: lane.items.length,
        head: ref && { seq: ref.seq, messageId: ref.messageId, type: ref.type, event: ref.event, receivedAt: new Date(ref.loggedAt).toISOString() },
        attempts: head?.attempts ?? 0,
        lastError: head?.lastError,
        lastStatus: head?.lastStatus,
        nextAttemptAt: lane.nextAttemptAt === undefined ? undefined : new Date(lane.nextAttemptAt).toISOString(),
        delivered: lane.delivered,
        aborted: lane.aborted,
        filtered: lane.filtered,
      };
    });
  }

  carry(nowMs: number): PipelineCarry {
    this.prune(nowMs);
    return {
      refs: [...this.events.values()].map((e) => e.ref),
      lanes: [...this.lanes.values()]
        .filter((l) => l.items.length > 0)
        .map((l) => ({
          destinationId: l.destinationId,
          items: l.items,
          nextAttemptAt: l.nextAttemptAt,
          delivered: l.delivered,
          aborted: l.aborted,
          filtered: l.filtered,
        })),
      seen: [...this.seen.entries()],
      applied: this.applied,
    };
  }

  private lane(destinationId: string): Lane {
    let lane = this.lanes.get(destinationId);
    if (!lane) {
      lane = { destinationId, items: [], delivered: 0, aborted: 0, filtered: 0 };
      this.lanes.set(destinationId, lane);
    }
    return lane;
  }

  private release(messageId: string): void {
    const held = this.events.get(messageId);
    if (!held) return;
    held.lanesLeft -= 1;
    if (held.lanesLeft <= 0) this.events.delete(messageId);
  }

  private prune(nowMs: number): void {
    const cutoff = nowMs - this.dedup.windowMs;
    for (const [id, at] of this.seen) {
      if (this.seen.size <= this.dedup.maxEntries && at >= cutoff) break;
      this.seen.delete(id);
    }
  }
}
