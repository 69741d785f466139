/**
 * What a benchmark checks besides speed: every accepted event delivered, how many were delivered
 * more than once, and each user's order at each destination. Events carry the bench's own
 * messageId and a per-user sequence number in `properties.seq`.
 */
import type { Sink } from './stack';

interface Accepted {
  readonly user: string;
  readonly seq: number;
  /** When the bench saw the 200. */
  readonly ackedAt: number;
}

interface Delivery {
  readonly messageId: string;
  readonly user: string;
  readonly seq: number;
  readonly at: number;
  /** When the gateway accepted it (the event's receivedAt). */
  readonly receivedAt: number;
}

export interface LedgerReport {
  readonly accepted: number;
  /** Accepted events that reached every destination at least once. */
  readonly delivered: number;
  /** Accepted events missing at one destination or more. */
  readonly missing: number;
  /** Deliveries beyond the first, over all destinations. */
  readonly duplicates: number;
  /** Deliveries of events whose request was refused: stored although the gateway said it was not. */
  readonly unexpected: number;
  /** Deliveries of events whose request got no answer the bench saw (cut off at the end of a phase). */
  readonly unanswered: number;
  /**
   * Per destination: a user's event arriving after one the bench sent only once this one's 200 had
   * come back. That is Ferry's promise; two requests of a user in flight at once have no defined order.
   */
  readonly orderViolations: number;
}

export class Ledger {
  private readonly accepted = new Map<string, Accepted>();
  private readonly refused = new Set<string>();
  private readonly byDestination: Delivery[][];
  private readonly nextSeq = new Map<string, number>();
  private readonly sentAt = new Map<string, number>();

  constructor(sinks: readonly Sink[]) {
    this.byDestination = sinks.map(() => []);
    sinks.forEach((sink, i) =>
      sink.onBody((body, at) => {
        const props = body.properties as { seq?: number } | undefined;
        this.byDestination[i]!.push({
          messageId: String(body.messageId),
          user: String(body.userId),
          seq: props?.seq ?? 0,
          at,
          receivedAt: Date.parse(String(body.receivedAt)),
        });
      }),
    );
  }

  /** A new event for `user`, numbered in the user's order; mark it accepted once the gateway said 200. */
  event(user: string, messageId: string, extra: Record<string, unknown> = {}): { readonly event: Record<string, unknown>; readonly seq: number } {
    const seq = (this.nextSeq.get(user) ?? 0) + 1;
    this.nextSeq.set(user, seq);
    // Made right before it is sent.
    this.sentAt.set(messageId, Date.now());
    return { seq, event: { type: 'track', userId: user, messageId, event: 'Bench', properties: { seq, ...extra } } };
  }

  accept(messageId: string, user: string, seq: number): void {
    this.accepted.set(messageId, { user, seq, ackedAt: Date.now() });
  }

  /** The gateway refused the event's request: it must never arrive. */
  refuse(messageId: string): void {
    this.refused.add(messageId);
  }

  get acceptedCount(): number {
    return this.accepted.size;
  }

  /** Deliveries so far at the destination that has fewest. */
  get deliveredCount(): number {
    return Math.min(...this.byDestination.map((d) => d.length));
  }

  /** All deliveries so far over all destinations. */
  get deliveryCount(): number {
    return this.byDestination.reduce((n, d) => n + d.length, 0);
  }

  /** Resolves once every accepted event reached every destination, or after `timeoutMs`; says which. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.report().missing === 0) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return this.report().missing === 0;
  }

  /** Latencies (ms from acceptance to receipt) of deliveries whose messageId passes `filter`, sorted. */
  latencies(filter: (messageId: string) => boolean = () => true): number[] {
    return this.byDestination
      .flat()
      .filter((d) => filter(d.messageId))
      .map((d) => d.at - d.receivedAt)
      .sort((a, b) => a - b);
  }

  /** The time of the last first-delivery, over all destinations. */
  lastDeliveryAt(): number {
    return Math.max(0, ...this.byDestination.flat().map((d) => d.at));
  }

  report(): LedgerReport {
    let missing = 0;
    let duplicates = 0;
    let unexpected = 0;
    let unanswered = 0;
    let orderViolations = 0;
    const seenEverywhere = new Map<string, number>();
    for (const deliveries of this.byDestination) {
      const seen = new Set<string>();
      const earlier = new Map<string, Array<{ seq: number; sentAt: number }>>();
      for (const d of deliveries) {
        if (this.refused.has(d.messageId)) unexpected += 1;
        else if (!this.accepted.has(d.messageId)) unanswered += 1;
        if (seen.has(d.messageId)) {
          duplicates += 1;
          continue;
        }
        seen.add(d.messageId);
        seenEverywhere.set(d.messageId, (seenEverywhere.get(d.messageId) ?? 0) + 1);
        const ackedAt = this.accepted.get(d.messageId)?.ackedAt;
        const before = earlier.get(d.user) ?? [];
        if (ackedAt !== undefined && before.some((e) => e.seq > d.seq && e.sentAt > ackedAt)) orderViolations += 1;
        before.push({ seq: d.seq, sentAt: this.sentAt.get(d.messageId) ?? 0 });
        earlier.set(d.user, before);
      }
    }
    for (const messageId of this.accepted.keys()) if ((seenEverywhere.get(messageId) ?? 0) < this.byDestination.length) missing += 1;
    return { accepted: this.accepted.size, delivered: this.accepted.size - missing, missing, duplicates, unexpected, unanswered, orderViolations };
  }
}
