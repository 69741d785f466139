/**
 * Ferry's promises, stated once and judged only by what a user sees: HTTP answers, what real
 * receivers get, and rows a user can query (dead letters, and the ingest log where this version of
 * Ferry has one). The stack runs as separate processes, as `npm start` runs it. Nothing here reads
 * Temporal or Ferry's internals, so the suite holds whatever the design behind the gateway is.
 *
 * 1. A 200 means every event of that request is delivered to every destination it routes to, in
 *    each user's order, exactly once while nothing crashes.
 * 2. A refusal (4xx) means none of that request's events is ever delivered.
 * 3. A 503 means: retry. A retry with the same messageIds delivers each event exactly once.
 * 4. A crash duplicates at a destination only what was in flight there at the moment of the crash,
 *    and never under a new Idempotency-Key.
 */
import http from 'node:http';
import fc from 'fast-check';
import { waitUntil } from '../../processes/wait';
import { DISABLED_KEY, type FuzzRequest, MAX_BYTES, oddRequest, PIXEL, pixelRequest, postRequest, send, SINGLE, WRITE_KEY as FUZZ_KEY, withText } from '../../fuzz/corpus';
import { Receiver } from '../support/receiver';
import { ContractStack } from '../support/processStack';

const KEYS = { main: 'contract-main', limited: 'contract-limited', off: 'contract-off', crash: 'contract-crash' } as const;
const run = Date.now().toString(36);
const hook = (id: string, url: string, config: Record<string, unknown> = {}) => ({
  id,
  enabled: true,
  destinationDefinition: { name: 'WEBHOOK' },
  config: { webhookUrl: url, ...config },
  retry: { initialBackoffMs: 200, maxBackoffMs: 1_000 },
});

type Json = Record<string, unknown>;

/** Each user's events as one destination got them (first arrival of each messageId), in arrival order. */
function arrivedPerUser(receiver: Receiver, users?: ReadonlySet<string>): Map<string, Json[]> {
  const seen = new Set<string>();
  const byUser = new Map<string, Json[]>();
  for (const body of receiver.deliveredBodies()) {
    const id = String(body.messageId);
    if (seen.has(id)) continue;
    seen.add(id);
    const user = String(body.userId ?? body.anonymousId);
    if (users && !users.has(user)) continue;
    byUser.set(user, [...(byUser.get(user) ?? []), body]);
  }
  return byUser;
}

function deliveredIds(receiver: Receiver): Set<string> {
  return new Set(receiver.deliveredBodies().map((b) => String(b.messageId)));
}

let main: Receiver;
let filtered: Receiver;
let fuzzHook: Receiver;
let crashHook: Receiver;
let stack: ContractStack;

beforeAll(async () => {
  [main, filtered, fuzzHook, crashHook] = await Promise.all([Receiver.start(), Receiver.start(), Receiver.start(), Receiver.start()]);
  stack = await ContractStack.start({
    workspace: {
      sources: [
        {
          id: 'main',
          writeKey: KEYS.main,
          enabled: true,
          destinations: [
            hook('everything', `${main.url}/in`),
            // Routes every event but Heartbeat tracks: those must never arrive here.
            hook('no-heartbeats', `${filtered.url}/in`, { eventFilteringOption: 'blacklistedEvents', blacklistedEvents: [{ eventName: 'Heartbeat' }] }),
            { ...hook('switched-off', `${main.url}/never`), enabled: false },
          ],
        },
        { id: 'limited', writeKey: KEYS.limited, enabled: true, rateLimit: { eventsPerSecond: 1, burst: 2 }, destinations: [hook('limited-hook', `${main.url}/in`)] },
        { id: 'off', writeKey: KEYS.off, enabled: false, destinations: [hook('off-hook', `${main.url}/in`)] },
        { id: 'fuzz', writeKey: FUZZ_KEY, enabled: true, destinations: [hook('fuzz-hook', `${fuzzHook.url}/in`)] },
        { id: 'fuzz-off', writeKey: DISABLED_KEY, enabled: false, destinations: [hook('fuzz-off-hook', `${fuzzHook.url}/in`)] },
        { id: 'crash', writeKey: KEYS.crash, enabled: true, destinations: [hook('crash-hook', `${crashHook.url}/in`)] },
      ],
    },
  });
}, 15 * 60_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([main, filtered, fuzzHook, crashHook].map((r) => r?.close()));
});

/** Posts until the gateway answers 200, as an SDK retries a 503 (same body, same messageIds). */
async function postUntilStored(urlPath: string, body: unknown, writeKey: string): Promise<void> {
  let refusal: string | undefined;
  await waitUntil(
    async () => {
      const res = await stack.post(urlPath, body, writeKey);
      if (res.status >= 400 && res.status < 500) refusal = `${res.status} ${await res.text()}`;
      return res.status === 200 || refusal !== undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `a 200 for ${urlPath}` },
  );
  if (refusal !== undefined) throw new Error(`the gateway refused ${urlPath}: ${refusal}`);
}

/**
 * After all refused requests: one sentinel per user through a good source, posted after every
 * refusal was answered. Each user's order puts anything stored before a sentinel ahead of it, so once
 * every sentinel has arrived, a refused event that was stored would have arrived too.
 */
async function sendSentinels(users: Iterable<{ userId?: string; anonymousId?: string }>, writeKey: string, receiver: Receiver): Promise<void> {
  const ids: string[] = [];
  const batch = [...users].map((user, i) => {
    const messageId = `sentinel-${run}-${writeKey}-${i}`;
    ids.push(messageId);
    return { type: 'track', event: 'Sentinel', messageId, ...user };
  });
  // Small batches: the gateway here takes at most 4 KB per request.
  for (let i = 0; i < batch.length; i += 10) await postUntilStored('/v1/batch', { batch: batch.slice(i, i + 10) }, writeKey);
  await receiver.waitFor((r) => ids.every((id) => deliveredIds(r).has(id)), 120_000, `${ids.length} sentinels`);
}

/** No row a user can query holds these messageIds: no dead letter, and no ingest-log row where there is a log. */
async function expectNothingStored(messageIds: readonly string[]): Promise<void> {
  const deadLetters = await stack.pool.query('SELECT message_id FROM dead_letters WHERE message_id = ANY($1::text[])', [messageIds]);
  expect(deadLetters.rows).toEqual([]);
  const logged = await stack.rowsIfTableExists('event_log', 'SELECT message_id FROM event_log WHERE message_id = ANY($1::text[])', [messageIds]);
  if (logged) expect(logged).toEqual([]);
}

describe('a 200', () => {
  it('means every event of the request reaches every destination it routes to, in each user’s order, once', async () => {
    const users = Array.from({ length: 25 }, (_, i) => `ok-${run}-${i}`);
    let n = 0;
    const next = (userId: string, fields: Json) => ({ messageId: `ok-${run}-${(n += 1)}`, userId, ...fields, properties: { seq: n, ...(fields.properties as Json) } });
    const accepted: Json[] = [];
    const post = async (urlPath: string, body: Json | { batch: Json[] }, events: Json[]) => {
      const res = await stack.post(urlPath, body, KEYS.main);
      expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body: 'OK' });
      accepted.push(...events);
    };

    // Each user sends over every single-event endpoint, one request after the other; users run at once.
    const singles = async (userId: string) => {
      for (const [urlPath, fields] of [
        ['/v1/identify', { traits: { plan: 'pro' } }],
        ['/v1/track', { event: 'Signed Up' }],
        ['/v1/page', { name: 'Pricing' }],
        ['/v1/track', { event: 'Heartbeat' }],
        ['/v1/screen', { name: 'Home' }],
        ['/v1/group', { groupId: 'acme' }],
        ['/v1/track', { event: 'Ordered' }],
        ['/v1/alias', { previousId: `anon-${userId}` }],
      ] as const) {
        const event = next(userId, fields);
        await post(urlPath, event, [{ ...event, type: urlPath.slice(4) }]);
      }
    };
    await Promise.all(users.map(singles));
    // Then batches that mix users, as server SDKs send them, over /v1/batch, /v1/import and /beacon.
    for (const [i, urlPath] of ['/v1/batch', '/v1/import', '/beacon/v1/batch', '/v1/batch'].entries()) {
      const batch = users.map((userId, j) => next(userId, { type: 'track', event: (i + j) % 5 === 0 ? 'Heartbeat' : 'Batched' }));
      await post(urlPath, { batch }, batch);
    }
    await Promise.all(users.map(singles));

    const routesToFiltered = (e: Json) => !(e.type === 'track' && e.event === 'Heartbeat');
    const expected = new Map([
      [main, accepted],
      [filtered, accepted.filter(routesToFiltered)],
    ]);
    for (const [receiver, events] of expected) {
      const want = new Set(events.map((e) => String(e.messageId)));
      await receiver.waitFor((r) => [...want].every((id) => deliveredIds(r).has(id)), 120_000, `${want.size} events`);
    }
    // Let anything extra (a duplicate, an event routed where it must not go) arrive before judging.
    await new Promise((r) => setTimeout(r, 1_000));
    for (const [receiver, events] of expected) {
      const delivered = receiver.deliveredBodies().filter((b) => String(b.messageId).startsWith(`ok-${run}-`));
      expect(delivered.map((b) => b.messageId).sort()).toEqual(events.map((e) => e.messageId).sort());
      const perUser = arrivedPerUser(receiver, new Set(users));
      for (const user of users) {
        const seqs = (perUser.get(user) ?? []).map((b) => (b.properties as { seq: number }).seq);
        expect({ user, seqs }).toEqual({ user, seqs: [...seqs].sort((a, b) => a - b) });
      }
    }
    expect(main.requests.filter((r) => r.path === '/never')).toEqual([]);
  });
});

describe('a refusal', () => {
  it('means none of the request’s events is ever delivered', async () => {
    const refused: Array<{ messageId: string; userId: string; writeKey: string }> = [];
    let n = 0;
    const event = (writeKey: string, fields: Json = {}) => {
      n += 1;
      const e = { type: 'track', event: 'Refused', messageId: `refused-${run}-${n}`, userId: `refused-${run}-u${n % 4}`, ...fields };
      refused.push({ messageId: e.messageId, userId: e.userId, writeKey });
      return e;
    };
    const expectRefused = async (res: Promise<Response>, status: number) => expect((await res).status).toBe(status);

    await expectRefused(stack.post('/v1/track', event(KEYS.main), 'no-such-key'), 401);
    await expectRefused(stack.post('/v1/track', event(KEYS.off), KEYS.off), 404);
    // One bad element refuses the whole batch, the good elements included.
    await expectRefused(stack.post('/v1/batch', { batch: [event(KEYS.main), event(KEYS.main), { ...event(KEYS.main), userId: undefined }] }, KEYS.main), 400);
    await expectRefused(stack.post('/v1/track', { ...event(KEYS.main), properties: { blob: 'x'.repeat(MAX_BYTES) } }, KEYS.main), 413);
    await expectRefused(stack.post('/v1/track', JSON.stringify(event(KEYS.main)).slice(0, -1), KEYS.main), 400);
    await expectRefused(stack.post('/v1/track', JSON.stringify(event(KEYS.main)), KEYS.main, { 'content-encoding': 'x-unknown' }), 415);
    // The limited source takes 2 events at once: the third request in a row is refused.
    await stack.post('/v1/batch', { batch: [{ type: 'track', event: 'Fill', userId: `limited-${run}`, messageId: `fill-${run}` }, { type: 'track', event: 'Fill', userId: `limited-${run}`, messageId: `fill2-${run}` }] }, KEYS.limited);
    const limited = await stack.post('/v1/track', event(KEYS.limited), KEYS.limited);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);

    const usersOf = (keys: readonly string[]) => new Map(refused.filter((r) => keys.includes(r.writeKey)).map((r) => [r.userId, { userId: r.userId }]));
    await sendSentinels(usersOf([KEYS.main, KEYS.off]).values(), KEYS.main, main);
    await new Promise((r) => setTimeout(r, 2_500)); // the limited source's bucket refills
    await sendSentinels(usersOf([KEYS.limited]).values(), KEYS.limited, main);

    const ids = refused.map((r) => r.messageId);
    const arrived = [main, filtered].flatMap((r) => r.deliveredBodies().map((b) => String(b.messageId)));
    expect(arrived.filter((id) => ids.includes(id))).toEqual([]);
    await expectNothingStored(ids);
  });
});

describe('a 503', () => {
  it('means retry: a retry with the same messageIds delivers each event exactly once', async () => {
    const requests = Array.from({ length: 4 }, (_, i) => ({
      batch: Array.from({ length: 3 }, (_, j) => ({ type: 'track', event: 'While down', messageId: `down-${run}-${i}-${j}`, userId: `down-${run}-${j}`, properties: { seq: i * 3 + j } })),
    }));
    stack.freezeStores();
    let answers: Response[];
    try {
      answers = await Promise.all(requests.map((body) => stack.post('/v1/batch', body, KEYS.main)));
    } finally {
      stack.thawStores();
    }
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    for (const body of requests) await postUntilStored('/v1/batch', body, KEYS.main);

    const ids = requests.flatMap((r) => r.batch.map((e) => e.messageId));
    await main.waitFor((r) => ids.every((id) => deliveredIds(r).has(id)), 120_000, 'the retried events');
    await new Promise((r) => setTimeout(r, 1_500));
    const counts = ids.map((id) => main.deliveredBodies().filter((b) => b.messageId === id).length);
    expect(counts).toEqual(ids.map(() => 1));
  });
});

describe('the fuzz corpus, against the real stack', () => {
  it('never answers 5xx; a 200 delivers exactly its events, a refusal none', async () => {
    const seed = Number(process.env.FERRY_FUZZ_SEED ?? 424242);
    const corpus: FuzzRequest[] = [
      ...fc.sample(postRequest, { numRuns: 250, seed }),
      ...fc.sample(pixelRequest, { numRuns: 80, seed: seed + 1 }),
      ...fc.sample(oddRequest, { numRuns: 40, seed: seed + 2 }),
    ];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const port = Number(new URL(stack.gatewayUrl).port);
    const mustArrive = new Map<string, Json>();
    const mustNotArrive: string[] = [];
    const identities = new Map<string, { userId?: string; anonymousId?: string }>();
    const statuses: number[] = [];
    try {
      for (const [i, original] of corpus.entries()) {
        const { request, events } = withUniqueIds(original, `fz-${run}-${i}`);
        const answer = await send(port, agent, request);
        statuses.push(answer.status);
        if (request.mustAccept) expect({ i, status: answer.status }).toEqual({ i, status: 200 });
        for (const e of events) {
          const identity = identityOf(e);
          if (identity) identities.set(JSON.stringify(identity), identity);
        }
        const isPixel = request.method === 'GET' && request.path in PIXEL;
        if (isPixel) {
          // A pixel always answers with the GIF: only one valid by construction is known to be stored.
          if (request.mustAccept) for (const e of events) mustArrive.set(String(e.messageId), e);
          continue;
        }
        for (const e of events) {
          // Only events this run gave an id can be followed; the gateway names the others itself.
          if (typeof e.messageId !== 'string' || !e.messageId.startsWith(`fz-${run}-${i}`)) continue;
          if (answer.status === 200 && request.method === 'POST') mustArrive.set(e.messageId, e);
          else if (answer.status >= 400) mustNotArrive.push(e.messageId);
        }
      }
    } finally {
      agent.destroy();
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(mustArrive.size).toBeGreaterThan(30);
    expect(mustNotArrive.length).toBeGreaterThan(30);

    await sendSentinels(identities.values(), FUZZ_KEY, fuzzHook);
    // The sentinels came after every accepted event of their user: all of those have arrived by now.
    const missing = [...mustArrive.keys()].filter((id) => !deliveredIds(fuzzHook).has(id));
    expect(missing.map((id) => mustArrive.get(id))).toEqual([]);
    const arrived = fuzzHook.deliveredBodies().map((b) => String(b.messageId));
    expect(arrived.filter((id) => mustNotArrive.includes(id))).toEqual([]);
    for (const [id, sent] of mustArrive) {
      const copies = fuzzHook.deliveredBodies().filter((b) => b.messageId === id);
      expect(copies).toHaveLength(1);
      if (sent.properties !== undefined && typeof sent.properties === 'object') expect(copies[0]!.properties).toEqual(sent.properties);
    }
    await expectNothingStored(mustNotArrive);
  }, 300_000);
});

describe('a crash', () => {
  it('duplicates at a destination only the requests in flight there when the worker died', async () => {
    const users = Array.from({ length: 20 }, (_, i) => `crash-${run}-${i}`);
    const ids: string[] = [];
    await Promise.all(
      users.map(async (userId) => {
        for (let i = 0; i < 10; i++) {
          const messageId = `crash-${run}-${userId}-${i}`;
          ids.push(messageId);
          const res = await stack.post('/v1/track', { event: 'Crash', userId, messageId, properties: { seq: i } }, KEYS.crash);
          expect(res.status).toBe(200);
        }
      }),
    );
    // Let deliveries flow, then make the destination hang: every lane ends up waiting on a request
    // the destination holds open. Then kill the worker, as a crash would.
    await crashHook.waitFor((r) => r.arrivals.length >= 40, 60_000, '40 deliveries');
    crashHook.hold();
    let quietSince = crashHook.arrivals.length;
    await waitUntil(
      async () => {
        await new Promise((r) => setTimeout(r, 1_000));
        const quiet = crashHook.arrivals.length === quietSince;
        quietSince = crashHook.arrivals.length;
        return quiet;
      },
      { timeoutMs: 30_000, what: 'every lane to wait on the hanging destination' },
    );
    const inFlight = crashHook.heldCount;
    await stack.worker.kill();
    // The held requests' connections died with the worker; let the receiver see that before it answers.
    await new Promise((r) => setTimeout(r, 300));
    crashHook.release();
    await stack.startWorker();

    await crashHook.waitFor((r) => ids.every((id) => deliveredIds(r).has(id)), 120_000, 'every event after the restart');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(inFlight).toBeGreaterThan(0);
    expect(crashHook.duplicateArrivals).toBeLessThanOrEqual(inFlight);
    expect(crashHook.duplicatesWithNewKey).toBe(0);
    const perUser = arrivedPerUser(crashHook, new Set(users));
    for (const user of users) {
      const seqs = (perUser.get(user) ?? []).map((b) => (b.properties as { seq: number }).seq);
      expect({ user, seqs }).toEqual({ user, seqs: Array.from({ length: 10 }, (_, i) => i) });
    }
  });
});

/** The user a fuzzed event belongs to, as the gateway keys it: userId, else anonymousId. */
function identityOf(event: Json): { userId?: string; anonymousId?: string } | undefined {
  const id = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v).trim() || undefined : undefined);
  const userId = id(event.userId);
  if (userId) return { userId };
  const anonymousId = id(event.anonymousId);
  return anonymousId ? { anonymousId } : undefined;
}

/**
 * The corpus request with every event's valid messageId replaced by one unique to this run, so that
 * each event can be followed to the receiver. Events it cannot rewrite keep their fields.
 */
function withUniqueIds(request: FuzzRequest, prefix: string): { request: FuzzRequest; events: Json[] } {
  if (request.method === 'GET' && request.path in PIXEL) {
    const params = new URLSearchParams(request.query);
    params.set('messageId', prefix);
    const event: Json = { messageId: prefix, userId: params.get('userId') ?? undefined, anonymousId: params.get('anonymousId') ?? undefined };
    return { request: { ...request, query: params.toString() }, events: [event] };
  }
  if (request.text === undefined || request.encoding === undefined) return { request, events: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.text);
  } catch {
    return { request, events: [] };
  }
  const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
  const rewrite = (e: unknown, j: number): unknown => (isObject(e) && typeof e.messageId === 'string' && e.messageId.trim() !== '' ? { ...e, messageId: `${prefix}-${j}` } : e);
  let events: unknown[];
  let body: unknown;
  if (request.path in SINGLE && isObject(parsed)) {
    body = rewrite(parsed, 0);
    events = [body];
  } else if (isObject(parsed) && Array.isArray(parsed.batch)) {
    events = parsed.batch.map(rewrite);
    body = { ...parsed, batch: events };
  } else {
    return { request, events: [] };
  }
  const text = JSON.stringify(body);
  // A longer id must not push a request that had to be accepted over the size limit.
  const rewritten = { ...withText(request, text), mustAccept: request.mustAccept && Buffer.byteLength(text) <= MAX_BYTES };
  return { request: rewritten, events: events.filter(isObject) };
}
