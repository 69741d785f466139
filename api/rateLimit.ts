/**
 * Per-source ingest limits: one token bucket per source, one token per event. The buckets live in this
 * gateway process, so N gateway replicas together admit up to N times a source's limit.
 */
import { GatewayError, GatewayErrorType } from './errors';

export interface RateLimit {
  readonly eventsPerSecond: number;
  /** Bucket size. @default eventsPerSecond, at least 1 */
  readonly burst?: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  readonly limit: RateLimit;
}

export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** @param now milliseconds from a monotonic clock; tests pass their own. */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Takes `count` tokens from the source's bucket or throws a 429 GatewayError. A request larger than
   * the bucket is let through when the bucket is full and leaves it in debt, so that a big batch is
   * slowed down rather than refused for ever.
   */
  take(sourceId: string, limit: RateLimit | undefined, count: number): void {
    if (!limit || count <= 0) return;
    const bucket = this.bucket(sourceId, limit);
    const capacity = capacityOf(limit);
    const needed = Math.min(count, capacity);
    if (bucket.tokens >= needed) {
      bucket.tokens -= count;
      return;
    }
    const waitSeconds = (needed - bucket.tokens) / limit.eventsPerSecond;
    throw new GatewayError(GatewayErrorType.rateLimited, 'Too many events for this source, retry later', {
      retryAfterSeconds: Math.max(1, Math.ceil(waitSeconds)),
    });
  }

  /** Gives back tokens for events that were taken but not stored (e.g. Temporal was down). */
  refund(sourceId: string, limit: RateLimit | undefined, count: number): void {
    if (!limit || count <= 0) return;
    const bucket = this.bucket(sourceId, limit);
    bucket.tokens = Math.min(capacityOf(limit), bucket.tokens + count);
  }

  private bucket(sourceId: string, limit: RateLimit): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(sourceId);
    // A changed limit (a reloaded workspace) starts a fresh, full bucket.
    if (!bucket || bucket.limit.eventsPerSecond !== limit.eventsPerSecond || capacityOf(bucket.limit) !== capacityOf(limit)) {
      bucket = { tokens: capacityOf(limit), updatedAt: now, limit };
      this.buckets.set(sourceId, bucket);
      return bucket;
    }
    const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(capacityOf(limit), bucket.tokens + elapsedSeconds * limit.eventsPerSecond);
    bucket.updatedAt = now;
    return bucket;
  }
}

function capacityOf(limit: RateLimit): number {
  return limit.burst ?? Math.max(1, limit.eventsPerSecond);
}
