/**
 * The gateway fuzz corpus: random paths, bodies, content types, encodings and credentials, each
 * request knowing whether it is valid by construction. The unit fuzz test runs it against the app with
 * a recording sink, the contract suite against the real stack, and `npm run bench:fuzz` sends 100 000
 * of them; it sits below the tools so that tests and benchmarks share it without depending on each other.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import fc from 'fast-check';

export const WRITE_KEY = 'wk-fuzz';
export const DISABLED_KEY = 'wk-fuzz-off';
/** The gateway's body limit the corpus is built around: FERRY_MAX_REQUEST_KB = 4. */
export const MAX_BYTES = 4 * 1024;

export const SINGLE = { '/v1/track': 'track', '/v1/identify': 'identify', '/v1/page': 'page', '/v1/screen': 'screen', '/v1/group': 'group', '/v1/alias': 'alias' } as const;
export type SinglePath = keyof typeof SINGLE;
export const BATCH_PATHS = ['/v1/batch', '/v1/import', '/beacon/v1/batch'] as const;
export const PIXEL = { '/pixel/v1/track': 'track', '/pixel/v1/page': 'page' } as const;
export type PixelPath = keyof typeof PIXEL;
const TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;

export interface FuzzRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'OPTIONS';
  readonly path: string;
  readonly query: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** The JSON text before encoding, when the body is JSON text at all. */
  readonly text?: string;
  /** How `text` was turned into `body`. */
  readonly encoding?: Encoding;
  /** Whether the request is valid by construction and must be accepted while the store is up. */
  readonly mustAccept: boolean;
}

// ---- arbitraries ---------------------------------------------------------------------------------

const safeText = fc.string({ unit: 'grapheme-ascii', maxLength: 12 });
const nonBlankId = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/);
const idValue = fc.oneof(safeText, fc.integer(), fc.constant(null), fc.constant(''), fc.constant('   '));
const jsonish = fc.jsonValue({ maxDepth: 3 });
const plainObject = fc.dictionary(safeText, jsonish, { maxKeys: 4 });
/** Text PostgreSQL's json functions refuse (see log/storableText.ts): the gateway must refuse it too, with a 400. */
const unstorable = fc.constantFrom<unknown>('a\u0000b', 'x\ud800', '\udc00y', { note: '\u0000' }, { ['k\ud800']: 1 }, ['ok', '\u0000']);
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
    fc.tuple(fc.constantFrom('userId', 'anonymousId', 'type', 'event', 'properties', 'context', 'messageId', 'batch', 'groupId', 'previousId'), fc.oneof(jsonish, idValue, unstorable)).map(
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

/** The same request with other JSON text, encoded as the original was (e.g. to give its events unique ids). */
export function withText(req: FuzzRequest, text: string): FuzzRequest {
  if (req.text === undefined || req.encoding === undefined) throw new Error('only a request built from JSON text can take new text');
  return { ...req, text, body: encode(Buffer.from(text, 'utf8'), req.encoding).body };
}

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

export const postRequest: fc.Arbitrary<FuzzRequest> = fc
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
    return { method: 'POST' as const, path, query: query ?? '', headers, body: encoded.body, text: 'text' in body ? body.text : undefined, encoding, mustAccept };
  });

export const pixelRequest: fc.Arbitrary<FuzzRequest> = fc
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

export const oddRequest: fc.Arbitrary<FuzzRequest> = fc
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

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Sends one corpus request to the gateway on 127.0.0.1:`port`. */
export function send(port: number, agent: http.Agent, req: FuzzRequest): Promise<Answer> {
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

