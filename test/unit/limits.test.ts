/**
 * The gateway's request limits, each met by a hostile request against the real app on 127.0.0.1,
 * served as the gateway process serves it (createLimitedServer): the request is refused with a clear
 * status and nothing reaches the store.
 */
import type http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import pino from 'pino';
import { createApp, type EventSink } from '../../api/app';
import { createLimitedServer, jsonDepth } from '../../api/limits';
import { parseWorkspace } from '../../config/workspace';
import type { RoutedEvent } from '../../events/event';

/** An in-memory store that records what it was asked to keep. */
class RecordingSink implements EventSink {
  readonly stored: RoutedEvent[] = [];
  async append(_sourceId: string, routed: readonly RoutedEvent[]): Promise<void> {
    this.stored.push(...routed);
  }
}

const WRITE_KEY = 'wk-limits';
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const LIMITS = { maxRequestBytes: 8 * 1024, maxJsonDepth: 8, maxHeaders: 30, maxHeaderBytes: 4_096, headersTimeoutMs: 300, requestTimeoutMs: 2_000 };

const sink = new RecordingSink();
let server: http.Server;
let port = 0;

beforeAll(async () => {
  const workspace = parseWorkspace({ sources: [{ id: 'src', writeKey: WRITE_KEY, enabled: true, destinations: [] }] }, 'limits workspace');
  const app = createApp({
    workspace,
    sink,
    health: async () => ({ status: 'ok', components: {} }) as never,
    logger: pino({ level: 'silent' }),
    maxRequestBytes: LIMITS.maxRequestBytes,
    maxJsonDepth: LIMITS.maxJsonDepth,
    maxHeaders: LIMITS.maxHeaders,
    version: { name: 'ferry', version: '0.0.0-test', commit: 'unknown' },
  });
  server = createLimitedServer(app, LIMITS);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A track event whose properties nest `levels` objects: the body is `levels + 1` deep (`levels + 3` in a batch). */
function trackNested(levels: number): string {
  let properties: unknown = 'leaf';
  for (let i = 0; i < levels; i++) properties = { n: properties };
  return JSON.stringify({ type: 'track', userId: 'u1', event: 'Deep', properties });
}

async function post(path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, text: await res.text() };
}

/** Writes `raw` on a fresh connection and returns whatever the server answers before it closes. */
function rawExchange(raw: string, waitMs = 5_000): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${waitMs} ms; got ${Buffer.concat(chunks).toString()}`));
    }, waitMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // One answer is enough: keep-alive would hold the connection open.
      if (/\r\n\r\n/.test(Buffer.concat(chunks).toString())) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString(), closedAfterMs: Date.now() - started });
    });
  });
}

function requestWithHeaders(count: number, valueBytes = 4): string {
  const extra = Array.from({ length: count }, (_, i) => `x-h${i}: ${'v'.repeat(valueBytes)}\r\n`).join('');
  return `GET /version HTTP/1.1\r\nhost: 127.0.0.1\r\n${extra}connection: close\r\n\r\n`;
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);

describe('jsonDepth', () => {
  const CASES = [
    { id: 'scalar', description: 'a scalar has no depth', input: '"text"', expected: 0 },
    { id: 'flat', description: 'one object', input: '{"a":1,"b":[]}', expected: 2 },
    { id: 'nested', description: 'the deepest branch counts', input: '{"a":{"b":[[1]]},"c":[]}', expected: 4 },
    { id: 'strings', description: 'brackets inside strings do not count', input: '{"a":"[[[{{{","b":"\\"[["}', expected: 1 },
    { id: 'escapes', description: 'an escaped backslash ends before the quote', input: '["\\\\",[[]]]', expected: 3 },
    { id: 'unicode', description: 'multi-byte text between brackets', input: '[{"é🙂":["ü"]}]', expected: 3 },
  ];
  test.each(CASES)('$id: $description', ({ input, expected }) => {
    expect(jsonDepth(Buffer.from(input, 'utf8'))).toBe(expected);
  });
});

describe('gateway limits', () => {
  beforeEach(() => {
    sink.stored.length = 0;
  });

  it('accepts a body at the depth limit', async () => {
    expect(await post('/v1/track', trackNested(LIMITS.maxJsonDepth - 1))).toEqual({ status: 200, text: 'OK' });
    expect(await post('/v1/batch', JSON.stringify({ batch: [JSON.parse(trackNested(LIMITS.maxJsonDepth - 3))] }))).toEqual({ status: 200, text: 'OK' });
    expect(sink.stored).toHaveLength(2);
  });

  const HOSTILE_BODIES = [
    { id: 'one-too-deep', description: 'one level past the limit', input: { path: '/v1/track', body: trackNested(LIMITS.maxJsonDepth) } },
    { id: 'batch-too-deep', description: 'a batch whose event nests too deep', input: { path: '/v1/batch', body: JSON.stringify({ batch: [JSON.parse(trackNested(LIMITS.maxJsonDepth - 2))] }) } },
    { id: 'brackets', description: '8 000 open brackets within the size limit', input: { path: '/v1/batch', body: '['.repeat(8_000) } },
  ];
  test.each(HOSTILE_BODIES)('refuses JSON nested too deep: $description', async ({ input }) => {
    const answer = await post(input.path, input.body);
    expect(answer).toEqual({ status: 400, text: `Invalid request body: JSON nested deeper than ${LIMITS.maxJsonDepth} levels` });
    expect(sink.stored).toHaveLength(0);
  });

  it('refuses a gzip body nested too deep once inflated', async () => {
    const answer = await post('/v1/batch', zlib.gzipSync('['.repeat(LIMITS.maxRequestBytes - 1)), { 'content-encoding': 'gzip' });
    expect(answer.status).toBe(400);
    expect(sink.stored).toHaveLength(0);
  });

  it('refuses a body over the size limit, and a gzip bomb that inflates past it', async () => {
    const padding = 'x'.repeat(LIMITS.maxRequestBytes);
    expect(await post('/v1/track', JSON.stringify({ userId: 'u1', event: 'Big', properties: { padding } }))).toEqual({ status: 413, text: 'Request size exceeds the limit' });
    const bomb = zlib.gzipSync(JSON.stringify({ userId: 'u1', event: 'Bomb', properties: { padding: 'x'.repeat(1_000_000) } }));
    expect(bomb.length).toBeLessThan(LIMITS.maxRequestBytes);
    expect((await post('/v1/track', bomb, { 'content-encoding': 'gzip' })).status).toBe(413);
    expect(sink.stored).toHaveLength(0);
  });

  it('answers a request with as many headers as allowed', async () => {
    // host and connection count too.
    const { text } = await rawExchange(requestWithHeaders(LIMITS.maxHeaders - 2));
    expect(statusOf(text)).toBe(200);
  });

  it('refuses a request with one header too many with 431', async () => {
    const { text } = await rawExchange(requestWithHeaders(LIMITS.maxHeaders - 1));
    expect(statusOf(text)).toBe(431);
    expect(text).toContain(`Too many request headers: at most ${LIMITS.maxHeaders}`);
  });

  it('refuses too many headers with 431 when the Host header comes last, as Node\'s client sends it', async () => {
    const body = trackNested(1);
    const extra = Array.from({ length: LIMITS.maxHeaders + 5 }, (_, i) => `x-${i}: 1\r\n`).join('');
    const raw = `POST /v1/track HTTP/1.1\r\nauthorization: ${AUTH}\r\n${extra}content-length: ${body.length}\r\nconnection: close\r\nhost: x\r\n\r\n${body}`;
    const { text } = await rawExchange(raw);
    expect(statusOf(text)).toBe(431);
    expect(sink.stored).toHaveLength(0);
  });

  it('refuses a track with thousands of headers before reading its body', async () => {
    const body = trackNested(1);
    const extra = Array.from({ length: 5_000 }, (_, i) => `x-${i}: 1\r\n`).join('');
    const raw = `POST /v1/track HTTP/1.1\r\nhost: x\r\nauthorization: ${AUTH}\r\ncontent-type: application/json\r\n${extra}content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
    // Past maxHeaderBytes too: Node answers 431 itself.
    const { text } = await rawExchange(raw);
    expect(statusOf(text)).toBe(431);
    expect(sink.stored).toHaveLength(0);
  });

  it('refuses headers larger than allowed with 431', async () => {
    const { text } = await rawExchange(requestWithHeaders(2, LIMITS.maxHeaderBytes));
    expect(statusOf(text)).toBe(431);
  });

  it('closes a connection whose headers do not arrive in time (slowloris)', async () => {
    const { text, closedAfterMs } = await rawExchange('POST /v1/track HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\n', 5_000);
    expect(statusOf(text)).toBe(408);
    expect(closedAfterMs).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
    expect(closedAfterMs).toBeLessThan(3_000);
    expect(sink.stored).toHaveLength(0);
  });
});
