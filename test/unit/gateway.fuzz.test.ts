/**
 * Property-based fuzzing of the gateway's HTTP layer: random paths, bodies, content types, encodings
 * and credentials against the real express app on 127.0.0.1. The EventSink is an in-memory recorder
 * standing in for the durable store, so each answer can be checked against what was stored:
 * a 200 stored exactly the request's events, anything else stored nothing, and bad input never
 * gets a 5xx.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import pino from 'pino';
import { createApp, type EventSink } from '../../api/app';
import { TRANSPARENT_GIF } from '../../api/pixel';
import { parseWorkspace } from '../../config/workspace';
import type { FerryEvent, RoutedEvent } from '../../events/event';
import { LogWriteError } from '../../log/writer';
import {
  DISABLED_KEY,
  type FuzzRequest,
  MAX_BYTES,
  oddRequest,
  PIXEL,
  type PixelPath,
  pixelRequest,
  postRequest,
  send as sendTo,
  SINGLE,
  type SinglePath,
  WRITE_KEY,
} from '../../fuzz/corpus';

/** Records what a real store would keep; can be switched to fail like an unreachable log. */
class RecordingSink implements EventSink {
  readonly stored: Array<{ sourceId: string; routed: readonly RoutedEvent[] }> = [];
  attempts = 0;
  down = false;

  async append(sourceId: string, routed: readonly RoutedEvent[]): Promise<void> {
    this.attempts += 1;
    await Promise.resolve();
    if (this.down) throw new LogWriteError('the log did not commit in time');
    this.stored.push({ sourceId, routed });
  }
}

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
    health: async () => ({ status: 'ok', components: { gateway: { ok: true }, temporal: { ok: true }, database: { ok: true }, relay: { ok: true } } }),
    logger: pino({ level: 'silent' }),
    maxRequestBytes: MAX_BYTES,
    version: { name: 'ferry', version: '0.0.0-test', commit: 'unknown' },
  });
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
});

const send = (req: FuzzRequest) => sendTo(port, agent, req);

afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

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
