/**
 * The gateway's whole HTTP API against the real pipeline: every endpoint delivers to a real receiver,
 * and every refusal has its exact status and stores nothing (no workflow for the user, no delivery).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import pino from 'pino';
import { createApp } from '../../api/app';
import { createPool } from '../../db/pool';
import { LogWriter } from '../../log/writer';
import { createHealthCheck } from '../../api/health';
import { GatewayMode } from '../../api/mode';
import { TRANSPARENT_GIF } from '../../api/pixel';
import { resolveVersion } from '../../api/version';
import { TEST_BUCKETS, TestPipeline, uniqueId, webhookDestination } from '../support/pipeline';
import { freePort } from '../../processes/ports';
import { Receiver } from '../support/receiver';

const sourceId = uniqueId('src');
const writeKey = uniqueId('wk');
const disabledSourceId = uniqueId('src-off');
const disabledKey = uniqueId('wk-off');
const limitedSourceId = uniqueId('src-lim');
const limitedKey = uniqueId('wk-lim');
const BURST = 3;

let receiver: Receiver;
let pipeline: TestPipeline;

beforeAll(async () => {
  receiver = await Receiver.start();
  pipeline = await TestPipeline.start({
    workspace: {
      sources: [
        { id: sourceId, name: 'Gateway test', writeKey, enabled: true, destinations: [webhookDestination('hook', `${receiver.url}/main`)] },
        { id: disabledSourceId, writeKey: disabledKey, enabled: false, destinations: [webhookDestination('hook-off', `${receiver.url}/off`)] },
        {
          id: limitedSourceId,
          writeKey: limitedKey,
          enabled: true,
          // Refills one event per 1 000 s: after the burst, every further event is refused for the whole test.
          rateLimit: { eventsPerSecond: 0.001, burst: BURST },
          destinations: [webhookDestination('hook-lim', `${receiver.url}/limited`)],
        },
      ],
    },
  });
});

afterAll(async () => {
  await pipeline?.close();
  await receiver?.close();
});

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

function deliveredWith(messageId: string): Array<Record<string, unknown>> {
  return receiver.deliveredBodies().filter((b) => b.messageId === messageId);
}

async function waitForDelivery(messageId: string): Promise<Record<string, unknown>> {
  await receiver.waitFor(() => deliveredWith(messageId).length > 0, 30_000, `delivery of ${messageId}`);
  return deliveredWith(messageId)[0]!;
}

/** Nothing kept: the log has no row for this user of this source. */
async function expectNotStored(source: string, userKey: string): Promise<void> {
  expect(await pipeline.logRows('source_id = $1 AND user_key = $2', [source, userKey])).toEqual([]);
}

async function expectStatus(res: Response, status: number): Promise<string> {
  const text = await res.text();
  expect({ status: res.status, text }).toEqual({ status, text: expect.any(String) });
  return text;
}

describe('event endpoints', () => {
  const singles = [
    { path: '/v1/track', body: { event: 'Signed Up', properties: { plan: 'pro' } }, type: 'track' },
    { path: '/v1/identify', body: { traits: { email: 'a@example.com' } }, type: 'identify' },
    { path: '/v1/page', body: { name: 'Home', properties: { path: '/' } }, type: 'page' },
    { path: '/v1/screen', body: { name: 'Settings' }, type: 'screen' },
    { path: '/v1/group', body: { groupId: 'acme' }, type: 'group' },
    { path: '/v1/alias', body: { previousId: 'old-id' }, type: 'alias' },
  ];

  test.each(singles)('POST $path stores and delivers one $type event', async ({ path, body, type }) => {
    const userId = uniqueId('u');
    const messageId = randomUUID();
    const res = await pipeline.post(path, { ...body, userId, messageId }, writeKey);
    expect(await expectStatus(res, 200)).toBe('OK');
    const delivered = await waitForDelivery(messageId);
    expect(delivered).toMatchObject({ ...body, type, userId, messageId, receivedAt: expect.any(String), rudderId: expect.any(String) });
    expect(delivered.request_ip).toMatch(/127\.0\.0\.1/);
  });

  test.each(['/v1/batch', '/v1/import'])('POST %s stores every element for each of its users', async (path) => {
    const users = [uniqueId('u'), uniqueId('u')];
    const batch = [0, 1, 2, 3].map((i) => ({ type: 'track', userId: users[i % 2], event: `e${i}`, messageId: randomUUID(), timestamp: '2020-01-02T03:04:05.000Z' }));
    const res = await pipeline.post(path, { batch, sentAt: new Date().toISOString() }, writeKey);
    expect(await expectStatus(res, 200)).toBe('OK');
    for (const event of batch) {
      // Historical loads keep their own timestamps.
      expect(await waitForDelivery(event.messageId)).toMatchObject({ userId: event.userId, event: event.event, timestamp: event.timestamp });
    }
  });

  it('POST /beacon/v1/batch takes the write key from the query and a text/plain body (navigator.sendBeacon)', async () => {
    const anonymousId = uniqueId('anon');
    const messageId = randomUUID();
    const res = await fetch(`${pipeline.gatewayUrl}/beacon/v1/batch?writeKey=${encodeURIComponent(writeKey)}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ batch: [{ type: 'page', anonymousId, messageId, name: 'Leaving' }] }),
    });
    expect(await expectStatus(res, 200)).toBe('OK');
    expect(await waitForDelivery(messageId)).toMatchObject({ type: 'page', anonymousId, name: 'Leaving' });
  });

  it('inflates gzip bodies', async () => {
    const userId = uniqueId('u');
    const messageId = randomUUID();
    const body = zlib.gzipSync(JSON.stringify({ batch: [{ type: 'track', userId, messageId, event: 'Zipped' }] }));
    const res = await fetch(`${pipeline.gatewayUrl}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: basic(writeKey) },
      body,
    });
    expect(await expectStatus(res, 200)).toBe('OK');
    expect(await waitForDelivery(messageId)).toMatchObject({ userId, event: 'Zipped' });
  });

  it('GET /pixel/v1/track turns the query into a track event and answers a 1×1 GIF', async () => {
    const anonymousId = uniqueId('anon');
    const messageId = randomUUID();
    const query = new URLSearchParams({ writeKey, anonymousId, messageId, event: 'Email Opened', 'properties.campaign': 'spring', 'context.page.path': '/mail' });
    const res = await fetch(`${pipeline.gatewayUrl}/pixel/v1/track?${query}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/gif/);
    expect(Buffer.from(await res.arrayBuffer()).equals(TRANSPARENT_GIF)).toBe(true);
    const delivered = await waitForDelivery(messageId);
    expect(delivered).toMatchObject({ type: 'track', anonymousId, event: 'Email Opened', properties: { campaign: 'spring' }, context: { page: { path: '/mail' } } });
    expect(delivered).not.toHaveProperty('writeKey');
  });

  it('GET /pixel/v1/page stores a page event', async () => {
    const anonymousId = uniqueId('anon');
    const userId = uniqueId('u');
    const messageId = randomUUID();
    const query = new URLSearchParams({ writeKey, anonymousId, userId, messageId, name: 'Pricing', 'properties.url': 'https://example.com/pricing' });
    const res = await fetch(`${pipeline.gatewayUrl}/pixel/v1/page?${query}`);
    expect(res.status).toBe(200);
    expect(await waitForDelivery(messageId)).toMatchObject({ type: 'page', anonymousId, userId, name: 'Pricing', properties: { url: 'https://example.com/pricing' } });
  });

  it('delivers a messageId seen again within the dedup window once', async () => {
    const userId = uniqueId('u');
    const messageId = randomUUID();
    const event = { type: 'track', userId, messageId, event: 'Once' };
    expect((await pipeline.post('/v1/track', event, writeKey)).status).toBe(200);
    expect((await pipeline.post('/v1/track', event, writeKey)).status).toBe(200);
    expect((await pipeline.post('/v1/batch', { batch: [event, event] }, writeKey)).status).toBe(200);
    // The same user's next event is delivered after the duplicates would have been (one ordered lane).
    const fence = randomUUID();
    expect((await pipeline.post('/v1/track', { userId, messageId: fence, event: 'After' }, writeKey)).status).toBe(200);
    await waitForDelivery(fence);
    expect(deliveredWith(messageId)).toHaveLength(1);
  });
});

describe('service endpoints', () => {
  it('GET /health reports the components and the mode', async () => {
    const res = await fetch(`${pipeline.gatewayUrl}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ok',
      mode: 'normal',
      components: { gateway: { ok: true }, temporal: { ok: true }, database: { ok: true }, relay: { ok: true, relays: 1, buckets: TEST_BUCKETS, bucketsOwned: TEST_BUCKETS } },
    });
  });

  it('GET /health reports the mode the mode source gives', async () => {
    const gateway = await pipeline.startGateway({ mode: { current: async () => GatewayMode.degraded } });
    try {
      const res = await fetch(`${gateway.url}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok', mode: 'degraded' });
    } finally {
      await gateway.close();
    }
  });

  it('GET /version reports the package and the commit', async () => {
    const res = await fetch(`${pipeline.gatewayUrl}/version`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { name: string; version: string; commit: string };
    expect(body).toEqual(resolveVersion());
    expect(body.name).toBe('ferry');
    expect(body.commit).toMatch(/^([0-9a-f]{7,64}|unknown)$/);
  });

  it('GET /version reports FERRY_COMMIT when the server passes it', async () => {
    const gateway = await pipeline.startGateway({ version: resolveVersion({ commit: 'feedc0de' }) });
    try {
      expect(await (await fetch(`${gateway.url}/version`)).json()).toMatchObject({ commit: 'feedc0de' });
    } finally {
      await gateway.close();
    }
  });

  it('GET /sourceConfig/ answers the browser SDK’s request with the source in its backend-config shape', async () => {
    const query = `p=npm&v=3.34.1&build=modern&writeKey=${encodeURIComponent(writeKey)}&lockIntegrationsVersion=true&lockPluginsVersion=true`;
    const res = await fetch(`${pipeline.gatewayUrl}/sourceConfig/?${query}`, { headers: { origin: 'http://127.0.0.1:9' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:9');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      isHosted: false,
      updatedAt: expect.any(String),
      source: { id: sourceId, name: 'Gateway test', writeKey, enabled: true, workspaceId: expect.any(String), config: {}, destinations: [] },
    });
    expect(Number.isNaN(Date.parse(body.updatedAt as string))).toBe(false);
  });

  it('GET /sourceConfig takes Basic auth too, and refuses unknown (401) and disabled (404) sources', async () => {
    const withBasic = await fetch(`${pipeline.gatewayUrl}/sourceConfig`, { headers: { authorization: basic(writeKey) } });
    expect(withBasic.status).toBe(200);
    expect(((await withBasic.json()) as { source: { id: string } }).source.id).toBe(sourceId);
    await expectStatus(await fetch(`${pipeline.gatewayUrl}/sourceConfig/?writeKey=nope`), 401);
    await expectStatus(await fetch(`${pipeline.gatewayUrl}/sourceConfig/`), 401);
    await expectStatus(await fetch(`${pipeline.gatewayUrl}/sourceConfig/?writeKey=${encodeURIComponent(disabledKey)}`), 404);
  });
});

describe('CORS', () => {
  const origin = 'http://127.0.0.1:5555';

  it('answers a preflight from any origin, echoing the requested headers', async () => {
    const res = await fetch(`${pipeline.gatewayUrl}/v1/track`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,sentat,anonymousid' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization,content-type,sentat,anonymousid');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('lets the browser read successes and refusals alike', async () => {
    const ok = await pipeline.post('/v1/track', { userId: uniqueId('u'), event: 'Cors' }, writeKey, { origin });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    const refused = await pipeline.post('/v1/track', { userId: uniqueId('u'), event: 'Cors' }, 'no-such-key', { origin });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(origin);
  });
});

describe('refusals keep nothing', () => {
  /** Users named in refused requests: none may reach the receiver. */
  const refusedUsers: string[] = [];
  const refusedUser = () => {
    const id = uniqueId('refused');
    refusedUsers.push(id);
    return id;
  };

  async function expectPlainRefusal(res: Response, status: number): Promise<void> {
    const text = await expectStatus(res, status);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThan(200);
  }

  it('401 without a write key, with an unknown one, or with an empty Basic user', async () => {
    const a = refusedUser();
    const b = refusedUser();
    const c = refusedUser();
    const noAuth = await fetch(`${pipeline.gatewayUrl}/v1/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: a, event: 'x' }) });
    await expectPlainRefusal(noAuth, 401);
    await expectPlainRefusal(await pipeline.post('/v1/track', { userId: b, event: 'x' }, 'unknown-key'), 401);
    await expectPlainRefusal(await pipeline.post('/v1/batch', { batch: [{ type: 'track', userId: c, event: 'x' }] }, ''), 401);
    const beaconNoKey = await fetch(`${pipeline.gatewayUrl}/beacon/v1/batch`, { method: 'POST', body: JSON.stringify({ batch: [{ type: 'track', userId: c, event: 'x' }] }) });
    await expectPlainRefusal(beaconNoKey, 401);
    for (const user of [a, b, c]) await expectNotStored(sourceId, `user:${user}`);
  });

  it('404 for a disabled source', async () => {
    const user = refusedUser();
    await expectPlainRefusal(await pipeline.post('/v1/track', { userId: user, event: 'x' }, disabledKey), 404);
    await expectNotStored(disabledSourceId, `user:${user}`);
  });

  it('400 for a body that is not JSON', async () => {
    const user = refusedUser();
    await expectPlainRefusal(await pipeline.post('/v1/track', `{"userId":"${user}","event":"x"`, writeKey), 400);
    await expectPlainRefusal(await pipeline.post('/v1/track', `userId=${user}&event=x`, writeKey, { 'content-type': 'application/x-www-form-urlencoded' }), 400);
    await expectNotStored(sourceId, `user:${user}`);
  });

  it('400 for a body that claims gzip but does not inflate', async () => {
    const user = refusedUser();
    await expectPlainRefusal(await pipeline.post('/v1/track', { userId: user, event: 'x' }, writeKey, { 'content-encoding': 'gzip' }), 400);
    await expectNotStored(sourceId, `user:${user}`);
  });

  it('400 for a batch element that is not an object, and for an empty batch', async () => {
    const user = refusedUser();
    await expectPlainRefusal(await pipeline.post('/v1/batch', { batch: [{ type: 'track', userId: user, event: 'x' }, 42] }, writeKey), 400);
    await expectPlainRefusal(await pipeline.post('/v1/import', { batch: [{ type: 'track', userId: user, event: 'x' }, 'str'] }, writeKey), 400);
    await expectPlainRefusal(await pipeline.post('/v1/batch', { batch: [] }, writeKey), 400);
    await expectPlainRefusal(await pipeline.post('/v1/batch', { batch: 'nope' }, writeKey), 400);
    await expectNotStored(sourceId, `user:${user}`);
  });

  it('400 for an event with neither userId nor anonymousId, refusing its whole batch', async () => {
    const user = refusedUser();
    await expectPlainRefusal(await pipeline.post('/v1/track', { event: 'x', userId: '  ', anonymousId: null }, writeKey), 400);
    await expectPlainRefusal(await pipeline.post('/v1/batch', { batch: [{ type: 'track', userId: user, event: 'x' }, { type: 'track', event: 'x' }] }, writeKey), 400);
    await expectNotStored(sourceId, `user:${user}`);
  });

  it('413 over the size limit, which applies after decompression', async () => {
    const gateway = await pipeline.startGateway({ maxRequestBytes: 8 * 1024 });
    try {
      const post = (body: Buffer, gzip: boolean) =>
        fetch(`${gateway.url}/v1/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: basic(writeKey), ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
          body,
        });
      const big = refusedUser();
      const bigBody = Buffer.from(JSON.stringify({ batch: [{ type: 'track', userId: big, event: 'x', properties: { pad: 'x'.repeat(20_000) } }] }));
      const zipped = zlib.gzipSync(bigBody);
      expect(zipped.length).toBeLessThan(8 * 1024);
      await expectPlainRefusal(await post(bigBody, false), 413);
      await expectPlainRefusal(await post(zipped, true), 413);
      await expectNotStored(sourceId, `user:${big}`);
      // Just under the limit, zipped or not, is accepted.
      const small = uniqueId('u');
      const messageId = randomUUID();
      const smallBody = Buffer.from(JSON.stringify({ batch: [{ type: 'track', userId: small, messageId, event: 'x', properties: { pad: 'x'.repeat(7_000) } }] }));
      expect((await post(zlib.gzipSync(smallBody), true)).status).toBe(200);
      await waitForDelivery(messageId);
    } finally {
      await gateway.close();
    }
  });

  it('429 once a rate-limited source has used its burst, with Retry-After; the refused event is not kept', async () => {
    const accepted: string[] = [];
    for (let i = 0; i < BURST; i++) {
      const messageId = randomUUID();
      accepted.push(messageId);
      const res = await pipeline.post('/v1/track', { userId: uniqueId('u'), messageId, event: `ok${i}` }, limitedKey);
      expect(res.status).toBe(200);
    }
    const user = refusedUser();
    const refused = await pipeline.post('/v1/track', { userId: user, event: 'too many' }, limitedKey);
    await expectPlainRefusal(refused, 429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const refusedBatch = await pipeline.post('/v1/batch', { batch: [{ type: 'track', userId: user, event: 'too many' }] }, limitedKey);
    await expectPlainRefusal(refusedBatch, 429);
    const refusedPixel = await fetch(`${pipeline.gatewayUrl}/pixel/v1/track?writeKey=${encodeURIComponent(limitedKey)}&userId=${user}&event=x`);
    expect(refusedPixel.status).toBe(429);
    expect(refusedPixel.headers.get('retry-after')).not.toBeNull();
    expect(Buffer.from(await refusedPixel.arrayBuffer()).equals(TRANSPARENT_GIF)).toBe(true);
    // Another source is not affected by this one's limit.
    expect((await pipeline.post('/v1/track', { userId: uniqueId('u'), event: 'free' }, writeKey)).status).toBe(200);
    for (const messageId of accepted) await waitForDelivery(messageId);
    await expectNotStored(limitedSourceId, `user:${user}`);
  });

  it('a pixel always answers the GIF, but keeps nothing for a bad write key or an invalid event', async () => {
    const anonBadKey = refusedUser();
    const anonNoEvent = refusedUser();
    const anonDisabled = refusedUser();
    const requests = [
      `/pixel/v1/track?writeKey=nope&anonymousId=${anonBadKey}&event=x`,
      `/pixel/v1/track?anonymousId=${anonBadKey}&event=x`,
      `/pixel/v1/track?writeKey=${encodeURIComponent(writeKey)}&anonymousId=${anonNoEvent}`,
      `/pixel/v1/page?writeKey=${encodeURIComponent(writeKey)}&properties=not-an-object&anonymousId=${anonNoEvent}`,
      `/pixel/v1/page?writeKey=${encodeURIComponent(disabledKey)}&anonymousId=${anonDisabled}`,
    ];
    for (const path of requests) {
      const res = await fetch(`${pipeline.gatewayUrl}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^image\/gif/);
      expect(Buffer.from(await res.arrayBuffer()).equals(TRANSPARENT_GIF)).toBe(true);
    }
    await expectNotStored(sourceId, `anon:${anonBadKey}`);
    await expectNotStored(sourceId, `anon:${anonNoEvent}`);
    await expectNotStored(disabledSourceId, `anon:${anonDisabled}`);
  });

  it('503 with Retry-After when the log cannot be written, for events and for pixels', async () => {
    // PostgreSQL, which holds the log, unreachable: nothing can be stored, so nothing may be acknowledged.
    const deadPool = createPool(`postgresql://ferry:ferry@127.0.0.1:${await freePort()}/ferry`, 2);
    const health = createHealthCheck({ connection: pipeline.connection, pool: deadPool, timeoutMs: 1_000 });
    const app = createApp({
      workspace: pipeline.workspace,
      sink: new LogWriter({ pool: deadPool, buckets: TEST_BUCKETS, timeoutMs: 1_500 }),
      health,
      logger: pino({ level: 'silent' }),
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const user = refusedUser();
      const res = await fetch(`${url}/v1/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basic(writeKey) },
        body: JSON.stringify({ userId: user, event: 'lost?' }),
      });
      await expectPlainRefusal(res, 503);
      expect(res.headers.get('retry-after')).toBe('1');
      const pixel = await fetch(`${url}/pixel/v1/track?writeKey=${encodeURIComponent(writeKey)}&anonymousId=${user}&event=x`);
      expect(pixel.status).toBe(503);
      expect(pixel.headers.get('retry-after')).toBe('1');
      expect(Buffer.from(await pixel.arrayBuffer()).equals(TRANSPARENT_GIF)).toBe(true);
      const answer = await fetch(`${url}/health`);
      expect(answer.status).toBe(503);
      expect(await answer.json()).toMatchObject({ status: 'unavailable', mode: 'normal', components: { database: { ok: false }, temporal: { ok: true } } });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await health.settled();
      await deadPool.end();
    }
  });

  afterAll(async () => {
    // A last accepted event for the main source: once it is delivered, anything the refused requests had
    // wrongly queued at the same time would have had its chance to arrive too.
    const fence = randomUUID();
    expect((await pipeline.post('/v1/track', { userId: uniqueId('u'), messageId: fence, event: 'fence' }, writeKey)).status).toBe(200);
    await waitForDelivery(fence);
    const delivered = receiver.deliveredBodies().flatMap((b) => [b.userId, b.anonymousId]);
    expect(delivered.filter((id) => refusedUsers.includes(id as string))).toEqual([]);
    expect(receiver.delivered.filter((r) => r.path === '/off')).toEqual([]);
  });
});
