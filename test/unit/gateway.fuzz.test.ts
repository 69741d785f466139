/**
 * Property-based fuzzing of the gateway's HTTP layer: random paths, bodies, content types, encodings
 * and credentials against the real express app on 127.0.0.1. The EventSink is an in-memory recorder
 * standing in for the durable store, so each answer can be checked against what was stored:
 * a 200 stored exactly the request's events, anything else stored nothing, and bad input never
 * gets a 5xx.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import fc from 'fast-check';
import pino from 'pino';
import { createApp, type EventSink } from '../../api/app';
import { GatewayError, GatewayErrorType } from '../../api/errors';
import { TRANSPARENT_GIF } from '../../api/pixel';
import { parseWorkspace } from '../../config/workspace';
import type { FerryEvent, RoutedEvent } from '../../events/event';

const WRITE_KEY = 'wk-fuzz';
const DISABLED_KEY = 'wk-fuzz-off';
const MAX_BYTES = 4 * 1024;

/** Records what a real store would keep; can be switched to fail like an unreachable Temporal. */
class RecordingSink implements EventSink {
  readonly stored: Array<{ sourceId: string; routed: readonly RoutedEvent[] }> = [];
  attempts = 0;
  down = false;

  async dispatch(sourceId: string, routed: readonly RoutedEvent[]): Promise<void> {
    this.attempts += 1;
    await Promise.resolve();
    if (this.down) throw new GatewayError(GatewayErrorType.storeUnavailable, 'Event store unavailable, retry later', { retryAfterSeconds: 1 });
    this.stored.push({ sourceId, routed });
  }
}

const SINGLE = { '/v1/track': 'track', '/v1/identify': 'identify', '/v1/page': 'page', '/v1/screen': 'screen', '/v1/group': 'group', '/v1/alias': 'alias' } as const;
type SinglePath = keyof typeof SINGLE;
const BATCH_PATHS = ['/v1/batch', '/v1/import', '/beacon/v1/batch'] as const;
const PIXEL = { '/pixel/v1/track': 'track', '/pixel/v1/page': 'page' } as const;
type PixelPath = keyof typeof PIXEL;
const TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;

interface FuzzRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'OPTIONS';
  readonly path: string;
  readonly query: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** The JSON text before encoding, when the body is JSON text at all. */
  readonly text?: string;
  /** Whether the request is valid by construction and must be accepted while the store is up. */
  readonly mustAccept: boolean;
}

// ---- arbitraries ---------------------------------------------------------------------------------

const safeText = fc.string({ unit: 'grapheme-ascii', maxLength: 12 });
const nonBlankId = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/);
const idValue = fc.oneof(safeText, fc.integer(), fc.constant(null), fc.constant(''), fc.constant('   '));
const jsonish = fc.jsonValue({ maxDepth: 3 });
const plainObject = fc.dictionary(safeText, jsonish, { maxKeys: 4 });
const timestampish = fc.oneof(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString()), safeText);

function validEventFields(type: (typeof TYPES)[number]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record(
      {
        userId: nonBlankId,
        anonymousId: nonBlankId,
        messageId: nonBlankId,
        event: nonBlankId,
        name: safeText,
        groupId: nonBlankId,
        previousId: nonBlankId,
        properties: plainObject,
        traits: plainObject,
        context: plainObject,
        timestamp: timestampish,
        originalTimestamp: timestampish,
        // Long runs compress well, so gzipped bodies cross the size limit only once inflated.
        padding: fc.oneof(fc.string({ maxLength: 40 }), fc.nat(8_000).map((n) => 'x'.repeat(n))),
      },
      { requiredKeys: [] },
    )
    .chain((fields) =>
      fc.constantFrom<'userId' | 'anonymousId'>('userId', 'anonymousId').chain((idKey) =>
        nonBlankId.map((id) => {
          const event: Record<string, unknown> = { ...fields, [idKey]: fields[idKey] ?? id };
          if (type === 'track') event.event ??= 'Fuzzed';
          if (type === 'group') event.groupId ??= 'g1';
          if (type === 'alias') event.previousId ??= 'p1';
          return event;
        }),
      ),
    );
}

const validTypedEvent = fc.constantFrom(...TYPES).chain((type) => validEventFields(type).map((e) => ({ ...e, type })));

/** A JSON-able body, valid for the path when `valid` is true. */
function jsonBody(path: string): fc.Arbitrary<{ value: unknown; valid: boolean }> {
  const valid = path in SINGLE ? validEventFields(SINGLE[path as SinglePath]) : fc.record({ batch: fc.array(validTypedEvent, { minLength: 1, maxLength: 5 }) });
  const mutated = valid.chain((value) =>
    fc.tuple(fc.constantFrom('userId', 'anonymousId', 'type', 'event', 'properties', 'context', 'messageId', 'batch', 'groupId', 'previousId'), fc.oneof(jsonish, idValue)).map(
      ([key, replacement]) => ({ ...value, [key]: replacement }),
    ),
  );
  const batchWithBadElement = fc
    .tuple(fc.array(validTypedEvent, { maxLength: 3 }), fc.oneof(jsonish, validTypedEvent.map((e) => ({ ...e, userId: undefined, anonymousId: ' ' }))))
    .map(([good, bad]) => ({ batch: [...good, bad] }));
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((value) => ({ value, valid: true })) },
    { weight: 3, arbitrary: mutated.map((value) => ({ value, valid: false })) },
    { weight: 1, arbitrary: batchWithBadElement.map((value) => ({ value, valid: false })) },
    { weight: 2, arbitrary: jsonish.map((value) => ({ value, valid: false })) },
  );
}

const ENCODINGS = ['identity', 'gzip', 'deflate', 'br', 'gzip-but-plain', 'x-unknown'] as const;
type Encoding = (typeof ENCODINGS)[number];

function encode(text: Buffer, encoding: Encoding): { body: Buffer; header?: string } {
  switch (encoding) {
    case 'identity':
      return { body: text };
    case 'gzip':
      return { body: zlib.gzipSync(text), header: 'gzip' };
    case 'deflate':
      return { body: zlib.deflateSync(text), header: 'deflate' };
    case 'br':
      return { body: zlib.brotliCompressSync(text), header: 'br' };
    case 'gzip-but-plain':
      return { body: text, header: 'gzip' };
    case 'x-unknown':
      return { body: text, header: 'x-unknown' };
  }
}

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'application/json; charset=bogus', undefined] as const;

const AUTHS = ['basic', 'basic-disabled', 'basic-unknown', 'basic-empty', 'basic-garbage', 'bearer', 'query', 'query-unknown', 'none'] as const;
type Auth = (typeof AUTHS)[number];

function authParts(auth: Auth): { header?: string; query?: string } {
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:secret`).toString('base64')}`;
  switch (auth) {
    case 'basic':
      return { header: basic(WRITE_KEY) };
    case 'basic-disabled':
      return { header: basic(DISABLED_KEY) };
    case 'basic-unknown':
      return { header: basic('nobody') };
    case 'basic-empty':
      return { header: basic('') };
    case 'basic-garbage':
      return { header: 'Basic !!!not-base64' };
    case 'bearer':
      return { header: `Bearer ${WRITE_KEY}` };
    case 'query':
      return { query: `writeKey=${WRITE_KEY}` };
    case 'query-unknown':
      return { query: 'writeKey=nobody' };
    case 'none':
      return {};
  }
}

const extraHeaders = fc.dictionary(
  fc.constantFrom('x-forwarded-for', 'sentat', 'anonymousid', 'origin', 'accept-encoding', 'x-whatever'),
  fc.stringMatching(/^[ -~]{0,30}$/).map((s) => s.trim()),
  { maxKeys: 3 },
);

const postRequest: fc.Arbitrary<FuzzRequest> = fc
  .constantFrom<string>(...Object.keys(SINGLE), ...BATCH_PATHS, '/v1/nothing-here')
  .chain((path) =>
    fc.record({
      path: fc.constant(path),
      body: fc.oneof(
        { weight: 8, arbitrary: jsonBody(path).map((b) => ({ text: JSON.stringify(b.value) ?? 'null', valid: b.valid })) },
        { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((text) => ({ text, valid: false })) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ bytes: Buffer.from(bytes), valid: false })) },
      ),
      encoding: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Encoding>('identity', 'gzip') }, { weight: 4, arbitrary: fc.constantFrom(...ENCODINGS) }),
      contentType: fc.constantFrom(...CONTENT_TYPES),
      // Mostly good credentials, or most requests would stop at the 401.
      auth: fc.oneof({ weight: 6, arbitrary: fc.constant<Auth>('basic') }, { weight: 4, arbitrary: fc.constantFrom(...AUTHS) }),
      extra: extraHeaders,
    }),
  )
  .map(({ path, body, encoding, contentType, auth, extra }) => {
    const raw = 'bytes' in body ? body.bytes : Buffer.from(body.text, 'utf8');
    const encoded = encode(raw, encoding);
    const { header, query } = authParts(auth);
    const headers: Record<string, string> = { ...extra };
    if (contentType) headers['content-type'] = contentType;
    if (encoded.header) headers['content-encoding'] = encoded.header;
    if (header) headers.authorization = header;
    const known = path in SINGLE || (BATCH_PATHS as readonly string[]).includes(path);
    const authAccepted = known && (auth === 'basic' || (auth === 'query' && path === '/beacon/v1/batch'));
    const mustAccept =
      body.valid && authAccepted && ['identity', 'gzip', 'deflate', 'br'].includes(encoding) && contentType !== 'application/json; charset=bogus' && raw.length <= MAX_BYTES;
    return { method: 'POST' as const, path, query: query ?? '', headers, body: encoded.body, text: 'text' in body ? body.text : undefined, mustAccept };
  });

const pixelRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    path: fc.constantFrom<PixelPath>('/pixel/v1/track', '/pixel/v1/page'),
    fields: fc.dictionary(
      fc.oneof(
        fc.constantFrom('userId', 'anonymousId', 'event', 'name', 'messageId', 'properties.plan', 'properties.a.b', 'context.page.path', 'properties', 'type', '__proto__.polluted', 'constructor.prototype.x', '.', 'a..b'),
        safeText,
      ),
      fc.oneof(safeText, nonBlankId),
      { maxKeys: 6 },
    ),
    auth: fc.constantFrom<Auth>('query', 'query-unknown', 'basic', 'none'),
    valid: fc.boolean(),
    user: nonBlankId,
  })
  .map(({ path, fields, auth, valid, user }) => {
    const params = new URLSearchParams();
    if (valid) {
      params.set('anonymousId', user);
      if (path === '/pixel/v1/track') params.set('event', 'Opened');
    }
    for (const [k, v] of Object.entries(fields)) if (!(valid && (k === 'anonymousId' || k === 'event' || k === 'userId' || k === 'type'))) params.append(k, v);
    const { header, query } = authParts(auth);
    if (query) params.set('writeKey', query.slice('writeKey='.length));
    const headers: Record<string, string> = header ? { authorization: header } : {};
    // A plain `properties=x` (no dotted key beneath it) is not an object, so the event is invalid.
    const clashes = Object.keys(fields).some((k) => ['properties', 'traits', 'context', 'integrations'].includes(k));
    return { method: 'GET' as const, path, query: params.toString(), headers, mustAccept: valid && !clashes && (auth === 'query' || auth === 'basic') };
  });

const oddRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.constantFrom<'GET' | 'PUT' | 'OPTIONS'>('GET', 'PUT', 'OPTIONS'),
    path: fc.oneof(fc.constantFrom('/v1/track', '/v1/batch', '/sourceConfig/', '/health', '/version', '/pixel/v1/identify', '/%E0%A4%A'), safeText.map((s) => `/${encodeURIComponent(s)}`)),
    auth: fc.constantFrom(...AUTHS),
    extra: extraHeaders,
  })
  .map(({ method, path, auth, extra }) => {
    const { header, query } = authParts(auth);
    return { method, path, query: query ?? '', headers: { ...extra, ...(header ? { authorization: header } : {}) }, mustAccept: false };
  });

// ---- the app under test ---------------------------------------------------------------------------

const workspace = parseWorkspace(
  {
    sources: [
      { id: 'src-fuzz', writeKey: WRITE_KEY, enabled: true, destinations: [{ id: 'd1', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: 'http://127.0.0.1:9/never-called' } }] },
      { id: 'src-off', writeKey: DISABLED_KEY, enabled: false, destinations: [] },
    ],
  },
  'fuzz workspace',
);

let server: http.Server;
let port = 0;
const sink = new RecordingSink();
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  const app = createApp({
    workspace,
    sink,
    health: async () => ({ status: 'ok', components: { gateway: { ok: true }, temporal: { ok: true }, database: { ok: true } } }),
    logger: pino({ level: 'silent' }),
    maxRequestBytes: MAX_BYTES,
    version: { name: 'ferry', version: '0.0.0-test', commit: 'unknown' },
  });
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

function send(req: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body) headers['content-length'] = req.body.length;
    const r = http.request(
      { host: '127.0.0.1', port, method: req.method, path: req.query ? `${req.path}?${req.query}` : req.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

// ---- the oracle ------------------------------------------------------------------------------------

/** The events a request carried, as the client sent them, if its JSON text parses. */
function sentEvents(req: FuzzRequest): Array<Record<string, unknown>> | undefined {
  if (req.text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.text);
  } catch {
    return undefined;
  }
  if (req.path in SINGLE) return [{ ...(parsed as Record<string, unknown>), type: SINGLE[req.path as SinglePath] }];
  return (parsed as { batch: Array<Record<string, unknown>> }).batch;
}

function normalizedId(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

/** Checks a stored event against the one the client sent: nothing invented, nothing lost. */
function expectSameEvent(stored: FerryEvent, sent: Record<string, unknown>): void {
  expect(stored.type).toBe(sent.type);
  const messageId = normalizedId(sent.messageId);
  if (messageId !== undefined) expect(stored.messageId).toBe(messageId);
  else expect(stored.messageId).toMatch(/^[0-9a-f-]{36}$/);
  expect(stored.userId).toBe(normalizedId(sent.userId));
  expect(stored.anonymousId).toBe(normalizedId(sent.anonymousId));
  if (sent.properties !== undefined) expect(stored.properties).toEqual(sent.properties);
  if (sent.traits !== undefined) expect(stored.traits).toEqual(sent.traits);
  if (typeof sent.padding === 'string') expect(stored.padding).toBe(sent.padding);
  expect(typeof stored.receivedAt).toBe('string');
  expect(Number.isNaN(Date.parse(stored.timestamp))).toBe(false);
}

async function check(req: FuzzRequest, storeDown: boolean): Promise<void> {
  sink.down = storeDown;
  const storedBefore = sink.stored.length;
  const attemptsBefore = sink.attempts;
  const answer = await send(req);
  const stored = sink.stored.slice(storedBefore);
  const attempted = sink.attempts > attemptsBefore;
  const isPixel = req.method === 'GET' && req.path in PIXEL;

  // Never a 5xx, except a 503 because the store really failed for this request.
  if (answer.status >= 500) {
    expect({ status: answer.status, storeDown, attempted }).toEqual({ status: 503, storeDown: true, attempted: true });
    expect(answer.headers['retry-after']).toBe('1');
  }
  if (req.mustAccept) expect(answer.status).toBe(storeDown ? 503 : 200);

  if (isPixel) {
    expect(answer.headers['content-type']).toMatch(/^image\/gif/);
    expect(answer.body.equals(TRANSPARENT_GIF)).toBe(true);
    if (answer.status !== 200) expect(stored).toHaveLength(0);
    if (req.mustAccept && !storeDown) expect(stored).toHaveLength(1);
    expect(stored.length).toBeLessThanOrEqual(1);
    for (const { routed } of stored) {
      const params = new URLSearchParams(req.query);
      const [{ event }] = routed as [RoutedEvent];
      expect(routed).toHaveLength(1);
      expect(event.type).toBe(PIXEL[req.path as PixelPath]);
      expect(event.anonymousId).toBe(normalizedId(params.get('anonymousId')));
      expect(event.userId).toBe(normalizedId(params.get('userId')));
      expect(event).not.toHaveProperty('writeKey');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    return;
  }

  if (req.method === 'POST' && answer.status === 200) {
    expect(answer.body.toString()).toBe('OK');
    const sent = sentEvents(req);
    expect(sent).toBeDefined();
    expect(stored).toHaveLength(1);
    const events = stored[0]!.routed.map((r) => r.event);
    expect(events).toHaveLength(sent!.length);
    events.forEach((event, i) => expectSameEvent(event, sent![i]!));
    expect(stored[0]!.sourceId).toBe('src-fuzz');
    return;
  }

  expect(stored).toHaveLength(0);
  if (answer.status >= 400) {
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    const text = answer.body.toString();
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThan(500);
  }
}

describe('gateway under fuzzed requests', () => {
  it('answers POSTs consistently with what it stored, and never 5xx for bad input', async () => {
    await fc.assert(
      fc.asyncProperty(postRequest, fc.boolean(), fc.nat(5), async (req, maybeDown, roll) => check(req, maybeDown && roll === 0)),
      { numRuns: 500 },
    );
  });

  it('answers every pixel request with the GIF, storing only valid, authenticated events', async () => {
    await fc.assert(
      fc.asyncProperty(pixelRequest, fc.boolean(), fc.nat(5), async (req, maybeDown, roll) => check(req, maybeDown && roll === 0)),
      { numRuns: 200 },
    );
  });

  it('never stores anything for other methods and paths', async () => {
    await fc.assert(fc.asyncProperty(oddRequest, async (req) => check(req, false)), { numRuns: 150 });
  });

  it('is still serving afterwards', async () => {
    const answer = await send({ method: 'GET', path: '/health', query: '', headers: {}, mustAccept: false });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ status: 'ok', mode: 'normal' });
  });
});
