/**
 * The per-user pipeline's state, kept apart from the workflow's handlers so it can be reasoned about
 * (and unit-tested) as plain data. Nothing here may do I/O or read the clock: the caller passes time in.
 */
import type { FerryEvent, RoutedEvent } from '../events/event';
import type { DeadLetterEntry, DeliverItem, ItemResult, TransformOutcome } from '../activities/contract';
import type { DeliveryRequest } from '../delivery/requests';

interface LaneItem {
  readonly messageId: string;
  requests?: readonly DeliveryRequest[];
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
  readonly events: readonly FerryEvent[];
  readonly lanes: ReadonlyArray<{
    readonly destinationId: string;
    readonly items: readonly LaneItem[];
    /** Epoch ms before which the head must not be retried; carried so a hand-over does not cut a backoff short. */
    readonly nextAttemptAt?: number;
    readonly delivered: number;
    readonly aborted: number;
    readonly filtered: number;
  }>;
  /** [messageId, receivedAt epoch ms] of delivered-or-pending events inside the dedup window. */
  readonly seen: ReadonlyArray<readonly [string, number]>;
}

export interface LaneSnapshot {
  readonly destinationId: string;
  readonly depth: number;
  readonly head?: {
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
  private readonly events = new Map<string, { event: FerryEvent; lanesLeft: number }>();
  private readonly lanes = new Map<string, Lane>();
  /** Insertion-ordered, so the oldest entries are pruned first. */
  private readonly seen = new Map<string, number>();
  private duplicates = 0;

  constructor(
    private readonly dedup: DedupSettings,
    carry?: PipelineCarry,
  ) {
    if (!carry) return;
    for (const [id, at] of carry.seen) this.seen.set(id, at);
    const byId = new Map(carry.events.map((e) => [e.messageId, e]));
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
        const event = byId.get(item.messageId);
        if (!event) throw new Error(`carried lane ${lane.destinationId} references unknown event ${item.messageId}`);
        const held = this.events.get(item.messageId);
        if (held) held.lanesLeft += 1;
        else this.events.set(item.messageId, { event, lanesLeft: 1 });
      }
    }
  }

  /** Queues accepted events on their lanes, dropping messageIds already seen inside the dedup window. */
  accept(routed: readonly RoutedEvent[], nowMs: number): void {
    this.prune(nowMs);
    for (const { event, destinationIds } of routed) {
      if (this.seen.has(event.messageId) || this.events.has(event.messageId)) {
        this.duplicates += 1;
        continue;
      }
      this.seen.set(event.messageId, Date.parse(event.receivedAt) || nowMs);
      if (destinationIds.length === 0) continue;
      this.events.set(event.messageId, { event, lanesLeft: destinationIds.length });
      for (const destinationId of destinationIds) {
        this.lane(destinationId).items.push({ messageId: event.messageId, attempts: 0 });
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

  /** The head events of a lane that still need transforming, up to `max`. */
  untransformedHead(destinationId: string, max: number): FerryEvent[] {
    const out: FerryEvent[] = [];
    for (const item of this.lane(destinationId).items.slice(0, max)) {
      if (item.requests) continue;
      out.push(this.eventOf(item.messageId));
    }
    return out;
  }

  /**
   * Applies transform outcomes. Filtered and aborted events leave the lane at once; the aborted ones
   * are returned for the dead-letter store.
   */
  applyTransform(destinationId: string, outcomes: readonly TransformOutcome[]): DeadLetterEntry[] {
    const lane = this.lane(destinationId);
    const byId = new Map(outcomes.map((o) => [o.messageId, o]));
    const deadLetters: DeadLetterEntry[] = [];
    const kept: LaneItem[] = [];
    for (const item of lane.items) {
      const outcome = byId.get(item.messageId);
      if (!outcome) {
        kept.push(item);
      } else if (outcome.outcome === 'ok') {
        item.requests = outcome.requests;
        kept.push(item);
      } else if (outcome.outcome === 'filtered') {
        lane.filtered += 1;
        this.release(item.messageId);
      } else {
        lane.aborted += 1;
        deadLetters.push({
          event: this.eventOf(item.messageId),
          stage: 'transform',
          reason: outcome.reason,
          attempts: item.attempts,
          lastError: outcome.reason,
        });
        this.release(item.messageId);
      }
    }
    lane.items = kept;
    return deadLetters;
  }

  /** The lane's transformed head items, up to `max`, in order and stopping at the first untransformed one. */
  deliverableHead(destinationId: string, max: number): DeliverItem[] {
    const out: DeliverItem[] = [];
    for (const item of this.lane(destinationId).items) {
      if (out.length >= max || !item.requests) break;
      out.push({
        messageId: item.messageId,
        requests: item.requests,
        attempts: item.attempts,
        firstFailureAt: item.firstFailureAt,
      });
    }
    return out;
  }

  /** Settles the lane's head items in order; aborted ones are returned for the dead-letter store. */
  applyResults(destinationId: string, results: readonly ItemResult[]): DeadLetterEntry[] {
    const lane = this.lane(destinationId);
    const deadLetters: DeadLetterEntry[] = [];
    for (const result of results) {
      const item = lane.items[0];
      if (!item || item.messageId !== result.messageId) {
        throw new Error(`result for ${result.messageId} does not match the head of lane ${destinationId}`);
      }
      lane.items.shift();
      if (result.outcome === 'delivered') {
        lane.delivered += 1;
      } else {
        lane.aborted += 1;
        deadLetters.push({
          event: this.eventOf(item.messageId),
          stage: 'deliver',
          reason: result.reason,
          attempts: result.attempts,
          requests: item.requests,
          lastStatus: result.status,
          lastError: item.lastError,
          responseBody: result.responseBody,
          firstFailedAt: item.firstFailureAt,
        });
      }
      this.release(item.messageId);
    }
    if (results.length > 0) lane.nextAttemptAt = undefined;
    return deadLetters;
  }

  /** Records a failed attempt on the lane's head item and when the lane may try again. */
  recordFailure(
    destinationId: string,
    failure: { messageId?: string; error: string; status?: number; failedAt: number; retryAt: number },
  ): void {
    const lane = this.lane(destinationId);
    const head = lane.items[0];
    if (!head) return;
    if (failure.messageId !== undefined && failure.messageId !== head.messageId) {
      throw new Error(`failure for ${failure.messageId} does not match the head of lane ${destinationId}`);
    }
    head.attempts += 1;
    head.firstFailureAt ??= failure.failedAt;
    head.lastError = failure.error;
    head.lastStatus = failure.status;
    lane.nextAttemptAt = failure.retryAt;
  }

  /** How long the lane must still wait before retrying its head (0 when it may go now). */
  retryWaitMs(destinationId: string, nowMs: number): number {
    const at = this.lane(destinationId).nextAttemptAt;
    return at === undefined ? 0 : Math.max(0, at - nowMs);
  }

  /** Destinations whose head event has failed at least once: the lanes an operator should look at. */
  stuckDestinations(): string[] {
    return [...this.lanes.values()]
      .filter((l) => (l.items[0]?.attempts ?? 0) > 0)
      .map((l) => l.destinationId)
      .sort();
  }

  snapshot(): LaneSnapshot[] {
    return [...this.lanes.values()].map((lane) => {
      const head = lane.items[0];
      const headEvent = head && this.eventOf(head.messageId);
      return {
        destinationId: lane.destinationId,
        depth: lane.items.length,
        head: headEvent && {
          messageId: headEvent.messageId,
          type: headEvent.type,
          event: headEvent.event,
          receivedAt: headEvent.receivedAt,
        },
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
      events: [...this.events.values()].map((e) => e.event),
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

  private eventOf(messageId: string): FerryEvent {
    const held = this.events.get(messageId);
    if (!held) throw new Error(`no pending event ${messageId}`);
    return held.event;
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
