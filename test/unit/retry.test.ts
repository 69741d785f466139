import { DEFAULT_RETRY_POLICY, decideRetry } from '../../delivery/retryPolicy';
import { parseRetryAfter } from '../../activities/deliver/http';
import { idempotencyKey } from '../../activities/deliver';

const HOUR = 3_600_000;
const plain = { throttled: false };

describe('retry policy', () => {
  it.each([
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [5, 160_000],
    [6, 300_000],
    [40, 300_000],
  ])('backs off exponentially from 10 s to a 300 s cap (attempt %i → %i ms)', (attempt, delay) => {
    expect(decideRetry(DEFAULT_RETRY_POLICY, plain, attempt, 0, 0)).toEqual({ action: 'retry', delayMs: delay });
  });

  it('uses Retry-After instead of the backoff, shorter or longer', () => {
    // Attempt 5 would back off 160 s; attempt 1, 10 s.
    expect(decideRetry(DEFAULT_RETRY_POLICY, { throttled: true, retryAfterMs: 30_000 }, 5, 0, 0)).toEqual({ action: 'retry', delayMs: 30_000 });
    expect(decideRetry(DEFAULT_RETRY_POLICY, { throttled: true, retryAfterMs: 120_000 }, 1, 0, 0)).toEqual({ action: 'retry', delayMs: 120_000 });
  });

  describe('keeps Retry-After within the backoff bounds', () => {
    const now = Date.parse('2026-11-26T10:00:00Z');
    const delay = (retryAfterMs: number | undefined, policy = DEFAULT_RETRY_POLICY) =>
      decideRetry(policy, { throttled: false, retryAfterMs }, 1, now, now);

    it('waits at least initialBackoffMs after a 503 with Retry-After: 0, not 0 ms', () => {
      expect(delay(parseRetryAfter('0', now))).toEqual({ action: 'retry', delayMs: 10_000 });
    });

    it('waits at least initialBackoffMs for an HTTP-date in the past', () => {
      expect(delay(parseRetryAfter('Thu, 26 Nov 2026 09:00:00 GMT', now))).toEqual({ action: 'retry', delayMs: 10_000 });
    });

    it('waits at most maxBackoffMs for a huge Retry-After', () => {
      expect(delay(parseRetryAfter('31536000', now))).toEqual({ action: 'retry', delayMs: 300_000 });
      expect(delay(parseRetryAfter('Fri, 26 Nov 2027 10:00:00 GMT', now))).toEqual({ action: 'retry', delayMs: 300_000 });
    });

    it('honours a value in between as is', () => {
      expect(delay(parseRetryAfter('45', now))).toEqual({ action: 'retry', delayMs: 45_000 });
      expect(delay(parseRetryAfter('Thu, 26 Nov 2026 10:01:30 GMT', now))).toEqual({ action: 'retry', delayMs: 90_000 });
    });

    it("takes the bounds from the destination's own policy", () => {
      const policy = { ...DEFAULT_RETRY_POLICY, initialBackoffMs: 200, maxBackoffMs: 1_000 };
      expect(delay(0, policy)).toEqual({ action: 'retry', delayMs: 200 });
      expect(delay(700, policy)).toEqual({ action: 'retry', delayMs: 700 });
      expect(delay(2_000, policy)).toEqual({ action: 'retry', delayMs: 1_000 });
    });
  });

  it('aborts only after the window AND the minimum attempts', () => {
    expect(decideRetry(DEFAULT_RETRY_POLICY, plain, 2, 0, 4 * HOUR).action).toBe('retry');
    expect(decideRetry(DEFAULT_RETRY_POLICY, plain, 30, 0, 2 * HOUR).action).toBe('retry');
    const decision = decideRetry(DEFAULT_RETRY_POLICY, plain, 3, 0, 3 * HOUR);
    expect(decision).toEqual({ action: 'abort', reason: 'gave up after 3 attempts over 10800 s (retry window 10800 s)' });
  });

  it('gives 429/408 the 30-day window', () => {
    expect(decideRetry(DEFAULT_RETRY_POLICY, { throttled: true }, 50, 0, 29 * 24 * HOUR).action).toBe('retry');
    expect(decideRetry(DEFAULT_RETRY_POLICY, { throttled: true }, 50, 0, 30 * 24 * HOUR).action).toBe('abort');
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-11-26T10:00:00Z');
  it.each([
    ['2', 2_000],
    [' 120 ', 120_000],
    ['Thu, 26 Nov 2026 10:00:30 GMT', 30_000],
    ['Thu, 26 Nov 2026 09:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('%j → %j ms', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });
});

describe('idempotency key', () => {
  it('is stable per destination, message and request, and differs otherwise', () => {
    const key = idempotencyKey('d1', 'm1', 0);
    expect(idempotencyKey('d1', 'm1', 0)).toBe(key);
    expect(new Set([key, idempotencyKey('d2', 'm1', 0), idempotencyKey('d1', 'm2', 0), idempotencyKey('d1', 'm1', 1)]).size).toBe(4);
  });
});
