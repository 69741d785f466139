/** The gateway's small parts, each on its own: token buckets, pixel query mapping, version info. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../../api/errors';
import { eventFromQuery } from '../../api/pixel';
import { SourceRateLimiter, type RateLimit } from '../../api/rateLimit';
import { resolveVersion } from '../../api/version';
import { PROJECT_ROOT } from '../../config/paths';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function refusal(fn: () => void): GatewayError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

describe('SourceRateLimiter', () => {
  const limit: RateLimit = { eventsPerSecond: 10, burst: 5 };

  it('lets a burst through, then refuses with 429 and a Retry-After until tokens refill', () => {
    const clock = manualClock();
    const limiter = new SourceRateLimiter(clock.now);
    for (let i = 0; i < 5; i++) expect(refusal(() => limiter.take('s', limit, 1))).toBeUndefined();
    const refused = refusal(() => limiter.take('s', limit, 1));
    expect(refused?.status).toBe(429);
    expect(refused?.retryAfterSeconds).toBe(1);
    clock.advance(100); // one token at 10/s
    expect(refusal(() => limiter.take('s', limit, 1))).toBeUndefined();
    expect(refusal(() => limiter.take('s', limit, 1))?.status).toBe(429);
  });

  it('counts events, not requests', () => {
    const limiter = new SourceRateLimiter(manualClock().now);
    expect(refusal(() => limiter.take('s', limit, 3))).toBeUndefined();
    expect(refusal(() => limiter.take('s', limit, 3))?.status).toBe(429);
    expect(refusal(() => limiter.take('s', limit, 2))).toBeUndefined();
  });

  it('lets a batch larger than the bucket through when the bucket is full, leaving it in debt', () => {
    const clock = manualClock();
    const limiter = new SourceRateLimiter(clock.now);
    expect(refusal(() => limiter.take('s', limit, 20))).toBeUndefined();
    // 15 tokens of debt at 10/s: 1.6 s before one event fits again.
    const refused = refusal(() => limiter.take('s', limit, 1));
    expect(refused?.retryAfterSeconds).toBe(2);
    clock.advance(1_500);
    expect(refusal(() => limiter.take('s', limit, 1))?.status).toBe(429);
    clock.advance(200);
    expect(refusal(() => limiter.take('s', limit, 1))).toBeUndefined();
  });

  it('keeps one bucket per source and never fills beyond the burst', () => {
    const clock = manualClock();
    const limiter = new SourceRateLimiter(clock.now);
    for (let i = 0; i < 5; i++) limiter.take('a', limit, 1);
    expect(refusal(() => limiter.take('b', limit, 5))).toBeUndefined();
    clock.advance(60_000);
    expect(refusal(() => limiter.take('a', limit, 5))).toBeUndefined();
    expect(refusal(() => limiter.take('a', limit, 1))?.status).toBe(429);
  });

  it('gives refunded tokens back, up to the burst', () => {
    const limiter = new SourceRateLimiter(manualClock().now);
    limiter.take('s', limit, 5);
    limiter.refund('s', limit, 50);
    expect(refusal(() => limiter.take('s', limit, 5))).toBeUndefined();
    expect(refusal(() => limiter.take('s', limit, 1))?.status).toBe(429);
  });

  it('defaults the burst to one second of events, at least one', () => {
    const limiter = new SourceRateLimiter(manualClock().now);
    expect(refusal(() => limiter.take('fast', { eventsPerSecond: 3 }, 3))).toBeUndefined();
    expect(refusal(() => limiter.take('fast', { eventsPerSecond: 3 }, 1))?.status).toBe(429);
    expect(refusal(() => limiter.take('slow', { eventsPerSecond: 0.1 }, 1))).toBeUndefined();
    expect(refusal(() => limiter.take('slow', { eventsPerSecond: 0.1 }, 1))?.retryAfterSeconds).toBe(10);
  });

  it('does not limit a source without a limit', () => {
    const limiter = new SourceRateLimiter(manualClock().now);
    for (let i = 0; i < 1_000; i++) limiter.take('s', undefined, 100);
  });
});

describe('eventFromQuery', () => {
  const cases: Array<{ id: string; description: string; query: string; expected: Record<string, unknown> }> = [
    {
      id: 'plain',
      description: 'plain keys become top-level fields; writeKey is not part of the event',
      query: 'writeKey=wk&anonymousId=a1&userId=u1&event=Opened&name=Home',
      expected: { anonymousId: 'a1', userId: 'u1', event: 'Opened', name: 'Home' },
    },
    {
      id: 'dotted',
      description: 'dotted keys nest, at any depth',
      query: 'properties.plan=pro&properties.a.b=c&context.page.path=%2Fx&context.locale=de',
      expected: { properties: { plan: 'pro', a: { b: 'c' } }, context: { page: { path: '/x' }, locale: 'de' } },
    },
    {
      id: 'repeated',
      description: 'a repeated key keeps its last value',
      query: 'event=a&event=b',
      expected: { event: 'b' },
    },
    {
      id: 'dotted-over-plain',
      description: 'a dotted key replaces a plain value at its parent',
      query: 'properties=x&properties.plan=pro',
      expected: { properties: { plan: 'pro' } },
    },
    {
      id: 'plain-after-dotted',
      description: 'a plain key does not wipe out fields nested beneath it',
      query: 'properties.plan=pro&properties=x',
      expected: { properties: { plan: 'pro' } },
    },
    {
      id: 'unsafe',
      description: 'keys that would reach a prototype, and empty segments, are ignored',
      query: '__proto__.polluted=1&constructor.prototype.polluted=1&properties.__proto__.x=1&a..b=1&.=1&ok=1',
      expected: { ok: '1' },
    },
  ];

  test.each(cases)('$id: $description', ({ query, expected }) => {
    expect(eventFromQuery(new URLSearchParams(query))).toEqual(expected);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('resolveVersion', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

  it('reports the package and the commit it was given', () => {
    expect(resolveVersion({ commit: 'abc1234' })).toEqual({ name: pkg.name, version: pkg.version, commit: 'abc1234' });
  });

  it("falls back to the checkout's commit, or 'unknown' without git", () => {
    let head = 'unknown';
    try {
      head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      // No git here: 'unknown' is the answer.
    }
    expect(resolveVersion().commit).toBe(head);
  });
});
