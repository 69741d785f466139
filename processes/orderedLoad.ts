/**
 * The load that tests Ferry's per-user order from outside: users each sending numbered events one
 * after the other, the next only after the previous one's 200, as an SDK flushing in order does. A
 * refused or lost request is sent again with the same messageId, as SDKs retry. The cluster test and
 * benchmark share it, with the check of what arrived.
 */

export interface OrderedLoadOptions {
  /** Where each request goes: the balancer, or a gateway picked per request. */
  readonly url: (user: number, n: number, attempt: number) => string;
  readonly writeKey: string;
  /** Prefix of every userId and messageId, so runs sharing a destination stay apart. */
  readonly prefix: string;
  readonly users: number;
  /** Each user stops after this many events; without it, at stop(). */
  readonly eventsPerUser?: number;
  /** A pause between one user's events. @default 0 */
  readonly pauseMs?: number;
}

export interface OrderedLoad {
  /** The last acknowledged event number of each user: events 1..n were all acknowledged. */
  readonly acknowledged: ReadonlyMap<string, number>;
  /** Every answer's status (0: no answer at all). */
  readonly statuses: number[];
  /** Milliseconds from the first send of an event to its 200, retries included. */
  readonly latencies: number[];
  /** The first few refusals, for a failure message. */
  readonly refusals: string[];
  /** Settles when every user is done (after eventsPerUser, or after stop()). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** Answers worth sending the same event again for: not stored, or not known to be. */
const RETRYABLE = new Set([0, 502, 503, 504]);
const REQUEST_TIMEOUT_MS = 15_000;

export function startOrderedLoad(options: OrderedLoadOptions): OrderedLoad {
  const acknowledged = new Map<string, number>();
  const statuses: number[] = [];
  const latencies: number[] = [];
  const refusals: string[] = [];
  const authorization = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  let running = true;
  const done = Promise.all(
    Array.from({ length: options.users }, async (_, u) => {
      const userId = `${options.prefix}-u${u}`;
      for (let n = 1; running && n <= (options.eventsPerUser ?? Infinity); n++) {
        const body = JSON.stringify({ userId, event: 'Step', messageId: `${options.prefix}-${u}-${n}`, properties: { n } });
        const started = performance.now();
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${options.url(u, n, attempt)}/v1/track`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization },
            body,
            // A request that hangs would stall its user for good: it is retried like a dropped connection.
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }).catch((err: unknown) => (err as Error).message);
          const status = typeof res === 'string' ? 0 : res.status;
          statuses.push(status);
          const text = typeof res === 'string' ? res : await res.text();
          if (status === 200) break;
          if (refusals.length < 20) refusals.push(`${status} ${text.slice(0, 200)}`);
          // Anything else would be refused again for ever: this user stops here.
          if (!RETRYABLE.has(status)) return;
          await new Promise((r) => setTimeout(r, 200));
        }
        latencies.push(performance.now() - started);
        acknowledged.set(userId, n);
        if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
      }
    }),
  ).then(() => undefined);
  return {
    acknowledged,
    statuses,
    latencies,
    refusals,
    done,
    async stop() {
      running = false;
      await done;
    },
  };
}

export interface OrderingReport {
  /** Acknowledged events that never arrived. */
  readonly missing: number;
  /** Events that arrived before one the same user sent earlier. */
  readonly violations: number;
  /** Arrivals of a messageId already delivered. */
  readonly duplicates: number;
  /** Distinct events delivered. */
  readonly delivered: number;
  /** Users whose first arrivals are not 1, 2, 3… (up to 5, for a failure message). */
  readonly badUsers: ReadonlyArray<{ readonly userId: string; readonly order: readonly number[] }>;
}

/**
 * Judges what a destination received against what was acknowledged. `bodies` are the delivered
 * event bodies in arrival order.
 */
export function checkOrdering(prefix: string, acknowledged: ReadonlyMap<string, number>, bodies: ReadonlyArray<Record<string, unknown>>): OrderingReport {
  const seen = new Set<string>();
  const byUser = new Map<string, number[]>();
  let duplicates = 0;
  for (const body of bodies) {
    const id = String(body.messageId);
    if (!id.startsWith(`${prefix}-`)) continue;
    if (seen.has(id)) {
      duplicates += 1;
      continue;
    }
    seen.add(id);
    const user = String(body.userId);
    byUser.set(user, [...(byUser.get(user) ?? []), (body.properties as { n: number }).n]);
  }
  let missing = 0;
  let violations = 0;
  const badUsers: Array<{ userId: string; order: number[] }> = [];
  for (const [userId, last] of acknowledged) {
    const order = byUser.get(userId) ?? [];
    const got = new Set(order);
    for (let n = 1; n <= last; n++) if (!got.has(n)) missing += 1;
    let userViolations = 0;
    for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) userViolations += 1;
    violations += userViolations;
    if ((userViolations > 0 || order.slice(0, last).some((n, i) => n !== i + 1)) && badUsers.length < 5) badUsers.push({ userId, order });
  }
  return { missing, violations, duplicates, delivered: seen.size, badUsers };
}
