import { z } from 'zod';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * How a destination's failures are retried. Set per destination as `retry` beside `config` in the
 * workspace file; every field is optional.
 */
export const retryPolicySchema = z
  .object({
    /** First backoff after a failure, and the shortest wait a destination's Retry-After can ask for. @default 10000 */
    initialBackoffMs: z.number().int().positive().default(10_000),
    /** Backoff cap; the delay doubles up to this. Also the longest wait a Retry-After can ask for. @default 300000 */
    maxBackoffMs: z.number().int().positive().default(300_000),
    /** An event is aborted once it has failed for this long... @default 10800000 (3 h) */
    windowMs: z.number().int().positive().default(3 * HOUR),
    /** ...and has been tried at least this many times. @default 3 */
    minAttempts: z.number().int().positive().default(3),
    /** The window for 429 and 408 answers, which mean "later", not "broken". @default 2592000000 (30 days) */
    throttledWindowMs: z.number().int().positive().default(30 * DAY),
  })
  .strict();

export type RetryPolicy = z.infer<typeof retryPolicySchema>;

export const DEFAULT_RETRY_POLICY: RetryPolicy = retryPolicySchema.parse({});

/** A failed attempt, as the deliver step classified it. */
export interface RetryableFailure {
  readonly throttled: boolean;
  readonly retryAfterMs?: number;
}

export type RetryDecision =
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'abort'; readonly reason: string };

/**
 * Decides what follows a retryable failure of an event's `attempt`-th try (1-based), given when its
 * first failure happened.
 */
export function decideRetry(
  policy: RetryPolicy,
  failure: RetryableFailure,
  attempt: number,
  firstFailureAt: number,
  now: number,
): RetryDecision {
  const window = failure.throttled ? policy.throttledWindowMs : policy.windowMs;
  const elapsed = now - firstFailureAt;
  if (elapsed >= window && attempt >= policy.minAttempts) {
    return {
      action: 'abort',
      reason: `gave up after ${attempt} attempts over ${Math.round(elapsed / 1000)} s (retry window ${Math.round(window / 1000)} s)`,
    };
  }
  if (failure.retryAfterMs !== undefined) {
    // A destination's Retry-After replaces the backoff, but within the policy's bounds: "0" (or a date
    // in the past) would re-send in a tight loop, and a huge value would hold the lane for days.
    return { action: 'retry', delayMs: Math.min(policy.maxBackoffMs, Math.max(policy.initialBackoffMs, failure.retryAfterMs)) };
  }
  const backoff = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(attempt - 1, 30));
  return { action: 'retry', delayMs: backoff };
}
