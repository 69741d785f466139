/**
 * The gateway's admin API (api/admin.ts) through the real express app on 127.0.0.1, with a supervisor
 * kept in memory that really changes state: routes exist only with a token, every request without the
 * right one is refused and changes nothing, and each operation reaches the supervisor and answers the
 * resulting status. Also /health's mode and paused destinations, read through controlModeSource.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { ADMIN_CHALLENGE } from '../../api/admin';
import { createApp, type EventSink, type GatewayOptions } from '../../api/app';
import { controlModeSource } from '../../api/mode';
import { parseWorkspace } from '../../config/workspace';
import type { ControlState } from '../../control/state';
import { JobNotFoundError, ReplayRequestError, UnknownSourceError, type JobStatus, type RedriveOptions, type ReplayOps, type ReplayOptions, type ResetResult } from '../../ops/replayClient';
import { MemoryOps, UNAVAILABLE_INTERNALS } from '../support/memoryOps';

const TOKEN = 'admin-token-0123456789abcdef';
const DESTINATIONS = ['hook-a', 'hook-b'];

const workspace = parseWorkspace(
  {
    sources: [
      {
        id: 'src',
        writeKey: 'wk',
        enabled: true,
        destinations: DESTINATIONS.map((id) => ({ id, enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: 'http://127.0.0.1:9/never-called' } })),
      },
    ],
  },
  'admin test workspace',
);

const sink: EventSink = { append: async () => undefined };

interface Running {
  readonly url: string;
  close(): Promise<void>;
}

const running: Running[] = [];

async function serve(overrides: Partial<GatewayOptions> = {}): Promise<string> {
  const app = createApp({
    workspace,
    sink,
    health: async () => ({ status: 'ok', components: { gateway: { ok: true }, temporal: { ok: true }, database: { ok: true }, relay: { ok: true } } }),
    logger: pino({ level: 'silent' }),
    version: { name: 'ferry', version: '0.0.0-test', commit: 'unknown' },
    ...overrides,
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  running.push({
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  return url;
}

afterAll(async () => {
  await Promise.all(running.map((r) => r.close()));
});

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
}

async function call(url: string, method: 'GET' | 'POST', path: string, { token, body, headers = {} }: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Every route, with a harmless body. */
const ROUTES: ReadonlyArray<{ readonly method: 'GET' | 'POST'; readonly path: string; readonly body?: unknown }> = [
  { method: 'GET', path: '/admin/status' },
  { method: 'POST', path: '/admin/degrade', body: { reason: 'x' } },
  { method: 'POST', path: '/admin/recover' },
  { method: 'POST', path: '/admin/destinations/hook-a/pause', body: { reason: 'x' } },
  { method: 'POST', path: '/admin/destinations/hook-a/resume' },
  { method: 'GET', path: '/admin/destinations/hook-a/stuck?limit=5' },
];

describe('without an admin token', () => {
  it.each(ROUTES)('$method $path does not exist (404 like any unknown path)', async ({ method, path, body }) => {
    const url = await serve();
    const answer = await call(url, method, path, { token: TOKEN, body });
    expect(answer.status).toBe(404);
    expect(answer.text).toBe('Not found');
  });
});

describe('with an admin token', () => {
  let ops: MemoryOps;
  let url: string;

  beforeEach(async () => {
    ops = new MemoryOps(DESTINATIONS);
    url = await serve({ admin: { ops, token: TOKEN } });
  });

  const unchanged = () => {
    expect(ops.calls).toEqual([]);
    expect(ops.mode).toBe('normal');
    expect([...ops.paused.keys()]).toEqual([]);
  };

  describe('refuses a request without the right token, and changes nothing', () => {
    const wrongCredentials: ReadonlyArray<readonly [string, Record<string, string>]> = [
      ['no Authorization header', {}],
      ['a wrong token of the same length', { authorization: `Bearer ${TOKEN.slice(0, -1)}${TOKEN.endsWith('x') ? 'y' : 'x'}` }],
      ['a wrong, shorter token', { authorization: 'Bearer short' }],
      ['a wrong, longer token', { authorization: `Bearer ${TOKEN}${TOKEN}` }],
      ['the token with another scheme', { authorization: `Basic ${Buffer.from(`${TOKEN}:`).toString('base64')}` }],
      ['an empty bearer token', { authorization: 'Bearer ' }],
      ['the token with a space inside', { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
    ];
    for (const [what, headers] of wrongCredentials) {
      it.each(ROUTES)(`${what}: $method $path → 401`, async ({ method, path, body }) => {
        const answer = await call(url, method, path, { body, headers });
        expect(answer.status).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe(ADMIN_CHALLENGE);
        expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
        expect(answer.json).toEqual({ error: expect.stringMatching(/admin token/) });
        unchanged();
      });
    }

    it('checks the token before reading the body (a bad body without a token is 401, not 400)', async () => {
      const answer = await call(url, 'POST', '/admin/degrade', { body: '{not json' });
      expect(answer.status).toBe(401);
      unchanged();
    });

    it('refuses unknown admin paths too, before saying they do not exist', async () => {
      expect((await call(url, 'GET', '/admin/nope')).status).toBe(401);
      const known = await call(url, 'GET', '/admin/nope', { token: TOKEN });
      expect(known.status).toBe(404);
      expect(known.json).toEqual({ error: 'Not found' });
    });
  });

  it('GET /admin/status answers the FerryStatus: the mode and every destination with its state', async () => {
    const answer = await call(url, 'GET', '/admin/status', { token: TOKEN });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.json).toMatchObject({
      mode: 'normal',
      destinations: [
        { id: 'hook-a', state: 'active' },
        { id: 'hook-b', state: 'active' },
      ],
      backlog: { unrelayedRows: 0, relays: 1 },
    });
    expect(ops.calls).toEqual(['status()']);
  });

  it('the token is case-sensitive but the scheme is not', async () => {
    expect((await call(url, 'GET', '/admin/status', { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
    expect((await call(url, 'GET', '/admin/status', { token: TOKEN.toUpperCase() })).status).toBe(401);
  });

  it('degrade and recover change the mode, and each answers the resulting status', async () => {
    const degraded = await call(url, 'POST', '/admin/degrade', { token: TOKEN, body: { reason: 'warehouse migration' } });
    expect(degraded.status).toBe(200);
    expect(degraded.json).toMatchObject({ mode: 'degraded', modeBy: 'operator', modeReason: 'warehouse migration' });
    expect(ops.mode).toBe('degraded');
    expect((await call(url, 'GET', '/admin/status', { token: TOKEN })).json).toMatchObject({ mode: 'degraded' });

    const recovered = await call(url, 'POST', '/admin/recover', { token: TOKEN });
    expect(recovered.status).toBe(200);
    expect(recovered.json).toMatchObject({ mode: 'normal' });
    expect(ops.mode).toBe('normal');
    expect(ops.calls).toEqual(['degrade(warehouse migration)', 'status()', 'recover()']);
  });

  it('degrade takes no body, an empty body or an empty object', async () => {
    expect((await call(url, 'POST', '/admin/degrade', { token: TOKEN })).status).toBe(200);
    expect((await call(url, 'POST', '/admin/degrade', { token: TOKEN, body: '' })).status).toBe(200);
    expect((await call(url, 'POST', '/admin/degrade', { token: TOKEN, body: {} })).status).toBe(200);
    expect(ops.calls).toEqual(['degrade()', 'degrade()', 'degrade()']);
  });

  it('pause and resume change one destination and leave the others', async () => {
    const paused = await call(url, 'POST', '/admin/destinations/hook-b/pause', { token: TOKEN, body: { reason: 'vendor outage' } });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({
      mode: 'normal',
      destinations: [
        { id: 'hook-a', state: 'active' },
        { id: 'hook-b', state: 'paused', by: 'operator', reason: 'vendor outage' },
      ],
    });
    expect([...ops.paused.keys()]).toEqual(['hook-b']);

    const resumed = await call(url, 'POST', '/admin/destinations/hook-b/resume', { token: TOKEN });
    expect(resumed.status).toBe(200);
    expect(resumed.json).toMatchObject({ destinations: [{ id: 'hook-a', state: 'active' }, { id: 'hook-b', state: 'active' }] });
    expect([...ops.paused.keys()]).toEqual([]);
  });

  it('a destination id is taken as sent, escaped characters included', async () => {
    const answer = await call(url, 'POST', `/admin/destinations/${encodeURIComponent('hook a/"x"')}/pause`, { token: TOKEN });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: 'unknown destination "hook a/"x"": it is not in the workspace' });
  });

  it.each([
    ['POST', '/admin/destinations/nope/pause', { reason: 'x' }],
    ['POST', '/admin/destinations/nope/resume', undefined],
    ['GET', '/admin/destinations/nope/stuck', undefined],
  ] as const)('an unknown destination: %s %s → 404 naming it, and nothing changes', async (method, path, body) => {
    const answer = await call(url, method, path, { token: TOKEN, body });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: 'unknown destination "nope": it is not in the workspace' });
    unchanged();
  });

  it('GET /admin/destinations/:id/stuck lists the stuck users, up to the limit', async () => {
    ops.stuckUsers.set('hook-a', [
      { workflowId: 'ferry/src/user:u1', sourceId: 'src', userKey: 'user:u1', startedAt: '2026-01-02T03:00:00.000Z' },
      { workflowId: 'ferry/src/user:u2', sourceId: 'src', userKey: 'user:u2', startedAt: '2026-01-02T03:01:00.000Z' },
    ]);
    const all = await call(url, 'GET', '/admin/destinations/hook-a/stuck', { token: TOKEN });
    expect(all.status).toBe(200);
    expect(all.json).toEqual({ destinationId: 'hook-a', users: ops.stuckUsers.get('hook-a') });
    const one = await call(url, 'GET', '/admin/destinations/hook-a/stuck?limit=1', { token: TOKEN });
    expect(one.json).toEqual({ destinationId: 'hook-a', users: [ops.stuckUsers.get('hook-a')![0]] });
    expect(ops.calls).toEqual(['stuck(hook-a,100)', 'stuck(hook-a,1)']);
  });

  describe('refuses a bad body or query with 400, and changes nothing', () => {
    it.each([
      ['a reason that is not a string', '/admin/degrade', { reason: 42 }],
      ['an empty reason', '/admin/degrade', { reason: '  ' }],
      ['an unknown field', '/admin/degrade', { reason: 'x', force: true }],
      ['an unknown field on pause', '/admin/destinations/hook-a/pause', { until: 'tomorrow' }],
      ['a body on recover', '/admin/recover', { reason: 'x' }],
      ['a body on resume', '/admin/destinations/hook-a/resume', { all: true }],
      ['an array', '/admin/destinations/hook-a/pause', [{ reason: 'x' }]],
      ['a JSON string', '/admin/degrade', '"x"'],
      ['invalid JSON', '/admin/degrade', '{"reason":'],
      ['a reason that is too long', '/admin/degrade', { reason: 'x'.repeat(1_001) }],
    ] as const)('%s', async (_what, path, body) => {
      const answer = await call(url, 'POST', path, { token: TOKEN, body });
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: expect.stringMatching(/^Invalid request/) });
      unchanged();
    });

    it.each([['limit=0'], ['limit=-1'], ['limit=abc'], ['limit=1.5'], ['limit=1001'], ['limit='], ['page=2']])('stuck?%s', async (query) => {
      const answer = await call(url, 'GET', `/admin/destinations/hook-a/stuck?${query}`, { token: TOKEN });
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: expect.stringMatching(/^Invalid request query/) });
      expect(ops.calls).toEqual([]);
    });

    it('names the bad field', async () => {
      const answer = await call(url, 'POST', '/admin/degrade', { token: TOKEN, body: { reason: 42 } });
      expect(answer.json).toEqual({ error: expect.stringContaining('reason') });
    });
  });

  it.each(ROUTES)('an unreachable supervisor: $method $path → 503 without its internals', async ({ method, path, body }) => {
    ops.unavailable = true;
    const answer = await call(url, method, path, { token: TOKEN, body });
    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({ error: 'The supervisor is unavailable, retry later' });
    expect(answer.headers.get('retry-after')).toBe('5');
    expect(answer.text).not.toContain('10.11.12.13');
    expect(answer.text).not.toContain(UNAVAILABLE_INTERNALS);
    ops.unavailable = false;
    unchanged();
  });

  it('leaves the SDK routes as they were: plain-text errors, Basic auth', async () => {
    const answer = await call(url, 'POST', '/v1/track', { body: { userId: 'u', event: 'e' }, headers: { authorization: `Basic ${Buffer.from('wk:').toString('base64')}` } });
    expect(answer.status).toBe(200);
    const refused = await call(url, 'POST', '/v1/track', { token: TOKEN, body: { userId: 'u', event: 'e' } });
    expect(refused.status).toBe(401);
    expect(refused.text).toBe('Invalid write key');
    expect(refused.headers.get('www-authenticate')).toBeNull();
  });
});

describe('/health: the mode and the destinations that are not active', () => {
  /** The control tables as the supervisor would write them, from the in-memory supervisor's state. */
  const controlOf = (ops: MemoryOps): ControlState => ({
    mode: ops.mode,
    ...(ops.modeReason ? { modeReason: ops.modeReason } : {}),
    destinations: new Map([...ops.paused].map(([id, p]) => [id, { state: 'paused' as const, ...(p.reason ? { reason: p.reason } : {}) }])),
  });

  it('reports what an operator changed through the admin API, once the cache has expired', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    let clock = 0;
    let reads = 0;
    const mode = controlModeSource(
      async () => {
        reads += 1;
        return controlOf(ops);
      },
      { maxAgeMs: 1_000, now: () => clock },
    );
    const url = await serve({ admin: { ops, token: TOKEN }, mode });

    expect((await call(url, 'GET', '/health')).json).toMatchObject({ status: 'ok', mode: 'normal', pausedDestinations: [] });
    expect(reads).toBe(1);

    await call(url, 'POST', '/admin/destinations/hook-b/pause', { token: TOKEN, body: { reason: 'vendor outage' } });
    await call(url, 'POST', '/admin/degrade', { token: TOKEN });
    clock += 500; // still cached
    expect((await call(url, 'GET', '/health')).json).toMatchObject({ mode: 'normal', pausedDestinations: [] });
    expect(reads).toBe(1);

    clock += 600;
    expect((await call(url, 'GET', '/health')).json).toMatchObject({ mode: 'degraded', pausedDestinations: [{ id: 'hook-b', state: 'paused', reason: 'vendor outage' }] });
    expect(reads).toBe(2);
  });

  it('keeps the last known state while the control tables cannot be read, and does not wait for a hung read', async () => {
    let clock = 0;
    let behaviour: 'ok' | 'fail' | 'hang' = 'ok';
    const state: ControlState = { mode: 'degraded', destinations: new Map([['hook-a', { state: 'probing' }]]) };
    const mode = controlModeSource(
      () => (behaviour === 'ok' ? Promise.resolve(state) : behaviour === 'fail' ? Promise.reject(new Error('db down')) : new Promise<never>(() => undefined)),
      { maxAgeMs: 1_000, timeoutMs: 50, now: () => clock },
    );
    expect(await mode.current()).toBe('degraded');
    behaviour = 'fail';
    clock += 2_000;
    expect(await mode.current()).toBe('degraded');
    expect(await mode.pausedDestinations!()).toEqual([{ id: 'hook-a', state: 'probing' }]);
    behaviour = 'hang';
    clock += 2_000;
    expect(await mode.current()).toBe('degraded');
  });

  it('is normal with nothing paused without a mode source', async () => {
    const url = await serve();
    expect((await call(url, 'GET', '/health')).json).toMatchObject({ status: 'ok', mode: 'normal', pausedDestinations: [] });
  });
});

describe('the replay routes', () => {
  /** Records what the API asks for and answers as the ReplayClient would, refusing what it would refuse. */
  class RecordingReplays implements ReplayOps {
    readonly calls: unknown[] = [];
    async replay(options: ReplayOptions): Promise<JobStatus> {
      this.calls.push(['replay', options]);
      if (options.sourceId !== 'src') throw new UnknownSourceError(options.sourceId);
      if (options.from >= options.to) throw new ReplayRequestError('the range is empty: --from must be before --to');
      return { workflowId: 'ferry/replay/r1', state: 'running' };
    }
    async redrive(options: RedriveOptions): Promise<JobStatus> {
      this.calls.push(['redrive', options]);
      return { workflowId: 'ferry/redrive/d1', state: 'running' };
    }
    async job(workflowId: string): Promise<JobStatus> {
      this.calls.push(['job', workflowId]);
      if (workflowId !== 'ferry/replay/r1') throw new JobNotFoundError(workflowId);
      return { workflowId, state: 'running' };
    }
    async cancel(workflowId: string): Promise<JobStatus> {
      this.calls.push(['cancel', workflowId]);
      return { workflowId, state: 'cancelled' };
    }
    async reprocess(workflowId: string, toEventId?: number): Promise<ResetResult> {
      this.calls.push(['reprocess', workflowId, toEventId]);
      return { workflowId, previousRunId: 'a', runId: 'b', toEventId: toEventId ?? 4, clearedDeliveries: 3 };
    }
  }

  let replays: RecordingReplays;
  let url: string;
  beforeEach(async () => {
    replays = new RecordingReplays();
    url = await serve({ admin: { ops: new MemoryOps(DESTINATIONS), token: TOKEN, replays } });
  });

  it('starts a replay with the times parsed, and answers 202 with the job', async () => {
    const body = { sourceId: 'src', destinationId: 'hook-a', from: '2026-11-26T00:00:00Z', to: '2026-11-26T06:00:00+01:00', eventsPerSecond: 50 };
    const answer = await call(url, 'POST', '/admin/replays', { token: TOKEN, body });
    expect(answer).toMatchObject({ status: 202, json: { workflowId: 'ferry/replay/r1', state: 'running' } });
    expect(replays.calls).toEqual([
      ['replay', { sourceId: 'src', destinationId: 'hook-a', from: new Date('2026-11-26T00:00:00Z'), to: new Date('2026-11-26T05:00:00Z'), pacing: { eventsPerSecond: 50 } }],
    ]);
  });

  it('refuses a bad body, an unknown source and an empty range, and a request without the token', async () => {
    expect((await call(url, 'POST', '/admin/replays', { token: TOKEN, body: { sourceId: 'src', from: 'yesterday', to: '2026-11-26T00:00:00Z' } })).status).toBe(400);
    expect((await call(url, 'POST', '/admin/replays', { token: TOKEN, body: { sourceId: 'src', from: '2026-11-26T00:00:00Z', to: '2026-11-27T00:00:00Z', extra: 1 } })).status).toBe(400);
    expect(await call(url, 'POST', '/admin/replays', { token: TOKEN, body: { sourceId: 'nope', from: '2026-11-26T00:00:00Z', to: '2026-11-27T00:00:00Z' } })).toMatchObject({
      status: 404,
      json: { error: expect.stringContaining('unknown source "nope"') },
    });
    expect(await call(url, 'POST', '/admin/replays', { token: TOKEN, body: { sourceId: 'src', from: '2026-11-27T00:00:00Z', to: '2026-11-26T00:00:00Z' } })).toMatchObject({
      status: 400,
      json: { error: expect.stringContaining('range is empty') },
    });
    const calls = replays.calls.length;
    expect((await call(url, 'POST', '/admin/replays', { body: { sourceId: 'src', from: '2026-11-26T00:00:00Z', to: '2026-11-27T00:00:00Z' } })).status).toBe(401);
    expect((await call(url, 'POST', '/admin/redrives', { token: 'wrong-token', body: { destinationId: 'hook-a' } })).status).toBe(401);
    expect(replays.calls.length).toBe(calls);
  });

  it('reads, cancels and reprocesses jobs by kind and id', async () => {
    expect(await call(url, 'GET', '/admin/jobs/replay/r1', { token: TOKEN })).toMatchObject({ status: 200, json: { workflowId: 'ferry/replay/r1' } });
    expect((await call(url, 'GET', '/admin/jobs/replay/zzz', { token: TOKEN })).status).toBe(404);
    expect((await call(url, 'GET', '/admin/jobs/other/r1', { token: TOKEN })).status).toBe(404);
    expect(await call(url, 'POST', '/admin/jobs/redrive/d1/cancel', { token: TOKEN })).toMatchObject({ status: 200, json: { workflowId: 'ferry/redrive/d1', state: 'cancelled' } });
    expect(await call(url, 'POST', '/admin/reprocess', { token: TOKEN, body: { workflowId: 'ferry/src/user:u1', toEventId: 9 } })).toMatchObject({ status: 200, json: { runId: 'b', toEventId: 9 } });
    expect(await call(url, 'POST', '/admin/redrives', { token: TOKEN, body: { destinationId: 'hook-a', since: '2026-11-20T00:00:00Z', dryRun: true } })).toMatchObject({ status: 202 });
    expect(replays.calls.at(-1)).toEqual(['redrive', { destinationId: 'hook-a', since: new Date('2026-11-20T00:00:00Z'), dryRun: true, pacing: {} }]);
  });

  it('does not exist without a replay client', async () => {
    const without = await serve({ admin: { ops: new MemoryOps(DESTINATIONS), token: TOKEN } });
    expect((await call(without, 'POST', '/admin/replays', { token: TOKEN, body: {} })).status).toBe(404);
  });
});
