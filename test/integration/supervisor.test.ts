/**
 * The supervisor through the real dev server, PostgreSQL and HTTP receivers: a failing destination is
 * paused and probed back, operators pause, resume, degrade and recover, and Ferry's own failures put
 * the pipeline in degraded mode. In every case the gateway keeps answering 200 and each user's order
 * survives.
 */
import fs from 'node:fs';
import path from 'node:path';
import { waitUntil } from '../../processes/wait';
import { bundleFerryWorkflows } from '../../workers/workflowSource';
import { controlModeSource } from '../../api/mode';
import { EXIT_CODES, runCli } from '../../cli/ferry';
import { readControl } from '../../control/state';
import { TestPipeline, testInfra, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { perTest } from '../support/perTest';
import type { Receiver } from '../support/receiver';

type Json = Record<string, unknown>;

const silent = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('the supervisor', () => {
  const scope = perTest();
  const { receiver } = scope;

  /** Posts `perUser` events for each user, one request at a time per user, all answered 200. */
  const send = async (writeKey: string, users: string[], from: number, perUser: number) => {
    await Promise.all(
      users.map(async (user) => {
        for (let n = from; n < from + perUser; n++) {
          const res = await scope.pipeline!.post('/v1/track', { userId: user, event: 'Step', messageId: `${user}-${n}`, properties: { n } }, writeKey);
          expect(res.status).toBe(200);
        }
      }),
    );
  };

  /** Each user's `n`s in the order they were first delivered. */
  const orderAt = (hook: Receiver) => {
    const seen = new Set<string>();
    const byUser = new Map<string, number[]>();
    for (const body of hook.deliveredBodies()) {
      const id = String(body.messageId);
      if (seen.has(id)) continue;
      seen.add(id);
      const user = String(body.userId);
      byUser.set(user, [...(byUser.get(user) ?? []), (body.properties as { n: number }).n]);
    }
    return byUser;
  };

  const expectInOrder = (hook: Receiver, users: string[], count: number) => {
    const byUser = orderAt(hook);
    for (const user of users) expect({ user, order: byUser.get(user) }).toEqual({ user, order: Array.from({ length: count }, (_, i) => i) });
  };

  const delivered = (hook: Receiver) => new Set(hook.deliveredBodies().map((b) => String(b.messageId))).size;

  it('pauses a failing destination, keeps the others flowing, probes it back and drains it in order', async () => {
    const [flaky, steady, alerts] = [await receiver(), await receiver(), await receiver()];
    let healthy = false;
    flaky.respond(() => (healthy ? { status: 200 } : { status: 503, body: 'down' }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('flaky', flaky.url), webhookDestination('steady', steady.url)]),
      supervisor: { alertWebhookUrl: alerts.url },
    });
    const users = Array.from({ length: 6 }, (_, i) => `u${i}-${sourceId}`);
    await send(writeKey, users, 0, 3);

    // At least half of at least 5 attempts failed within the window: paused, with an alert.
    await waitUntil(async () => (await scope.pipeline!.ops().status()).destinations.find((d) => d.id === 'flaky')?.state === 'paused', { timeoutMs: 30_000, what: 'flaky to be paused' });
    const pausedAt = Date.now();
    await alerts.waitFor((r) => r.deliveredBodies().some((b) => b.kind === 'paused'), 30_000, 'the pause alert');
    const pauseAlert = alerts.deliveredBodies().find((b) => b.kind === 'paused')!;
    expect(pauseAlert).toMatchObject({ dedupKey: 'ferry/destination/flaky', status: 'open' });

    // While it is paused the gateway accepts, the other destination receives, and no new attempt
    // reaches the paused one later than 5 s after the pause.
    await send(writeKey, users, 3, 3);
    await steady.waitFor((r) => delivered(r) === users.length * 6, 60_000, 'every event at the steady destination');
    expectInOrder(steady, users, 6);
    const late = flaky.requests.filter((r) => r.at > pausedAt + 5_000);
    expect(late).toEqual([]);
    const status = await scope.pipeline.ops().status();
    expect(status.destinations.find((d) => d.id === 'flaky')).toMatchObject({ state: 'paused', by: 'auto' });
    expect(status.destinations.find((d) => d.id === 'steady')).toMatchObject({ state: 'active' });
    // The parked users show in Temporal's visibility, as `ferry stuck` lists them.
    await waitUntil(async () => (await scope.pipeline!.ops().stuck('flaky')).filter((u) => u.sourceId === sourceId).length === users.length, {
      timeoutMs: 20_000,
      what: 'the stuck users listed',
    });

    // The receiver recovers: the probe after the cool-down succeeds, the destination resumes, and
    // every held event arrives, in each user's order.
    healthy = true;
    await flaky.waitFor((r) => delivered(r) === users.length * 6, 90_000, 'every held event at the recovered destination');
    expectInOrder(flaky, users, 6);
    await alerts.waitFor((r) => r.deliveredBodies().some((b) => b.kind === 'resumed'), 30_000, 'the resume alert');
    expect(alerts.deliveredBodies().find((b) => b.kind === 'resumed')).toMatchObject({ dedupKey: 'ferry/destination/flaky', status: 'resolved' });
    expect((await scope.pipeline.ops().status()).destinations.find((d) => d.id === 'flaky')?.state).toBe('active');
  });

  it('lets operators pause, resume, degrade and recover through the ferry CLI and the admin API', async () => {
    const [hook, alerts] = [await receiver(), await receiver()];
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]), supervisor: { alertWebhookUrl: alerts.url } });
    const running = scope.pipeline;
    // A gateway as `npm start` runs it with FERRY_ADMIN_TOKEN set: the admin API, and /health read from the supervisor's tables.
    const token = 'operator-token-0123456789abcdef';
    const gateway = await running.startGateway({ admin: { ops: running.ops(), token }, mode: controlModeSource(() => readControl(running.pool)) });
    scope.defer(gateway.close);
    /** `bearer` null sends no Authorization header. */
    const admin = async (method: 'GET' | 'POST', path: string, bearer: string | null = token) => {
      const res = await fetch(`${gateway.url}${path}`, { method, headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` } });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const ferry = async (...argv: string[]) => {
      let [stdout, stderr] = ['', ''];
      const code = await runCli(argv, {
        ops: async () => running.ops(),
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
        isTty: false,
        env: {},
      });
      return { code, stdout, stderr };
    };
    const stateOf = async (id: string) => ((await admin('GET', '/admin/status')).body.destinations as Json[]).find((d) => d.id === id)?.state;

    const users = Array.from({ length: 4 }, (_, i) => `op${i}-${sourceId}`);
    await send(writeKey, users, 0, 2);
    await hook.waitFor((r) => delivered(r) === 8, 30_000, 'the first events');

    // The CLI: an unknown destination changes nothing; a pause holds every later event.
    const unknown = await ferry('pause', '--destination', 'nope');
    expect(unknown).toMatchObject({ code: EXIT_CODES.unknownDestination, stderr: expect.stringContaining('nope') });
    const paused = await ferry('pause', '--destination', 'hook', '--reason', 'maintenance window', '--json');
    expect(paused.code).toBe(EXIT_CODES.ok);
    expect(JSON.parse(paused.stdout).destinations).toEqual([expect.objectContaining({ id: 'hook', state: 'paused', by: 'operator', reason: 'maintenance window' })]);
    expect(JSON.parse((await ferry('status', '--json')).stdout)).toMatchObject({ mode: 'normal', destinations: [expect.objectContaining({ id: 'hook', state: 'paused' })] });
    const health = async () => (await (await fetch(`${gateway.url}/health`)).json()) as { mode: string; pausedDestinations: Json[] };
    await waitUntil(async () => (await health()).pausedDestinations.some((d) => d.id === 'hook' && d.state === 'paused'), { timeoutMs: 5_000, what: '/health listing the pause' });
    await new Promise((r) => setTimeout(r, 1_500));
    await send(writeKey, users, 2, 2);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(delivered(hook)).toBe(8);

    // The admin API: no token or a wrong one is refused and changes nothing; an unknown destination is a 404.
    expect((await admin('POST', '/admin/destinations/hook/resume', null)).status).toBe(401);
    expect((await admin('POST', '/admin/destinations/hook/resume', 'operator-token-wrong')).status).toBe(401);
    expect(await admin('POST', '/admin/destinations/nope/resume')).toMatchObject({ status: 404, body: { error: expect.stringContaining('nope') } });
    expect(await stateOf('hook')).toBe('paused');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(delivered(hook)).toBe(8);
    // An operator's pause is not probed: it lasts until resumed.
    const resumed = await admin('POST', '/admin/destinations/hook/resume');
    expect(resumed.status).toBe(200);
    expect((resumed.body.destinations as Json[])[0]).toMatchObject({ id: 'hook', state: 'active' });
    await hook.waitFor((r) => delivered(r) === 16, 30_000, 'the held events after the resume');

    const degraded = await admin('POST', '/admin/degrade');
    expect(degraded).toMatchObject({ status: 200, body: { mode: 'degraded', modeBy: 'operator' } });
    await alerts.waitFor((r) => r.deliveredBodies().some((b) => b.kind === 'degraded'), 30_000, 'the degraded alert');
    await waitUntil(async () => (await health()).mode === 'degraded', { timeoutMs: 5_000, what: '/health reporting degraded mode' });
    // The relays and workers see it within a control refresh (FERRY_CONTROL_REFRESH_MS; the promise is 5 s).
    await new Promise((r) => setTimeout(r, 1_500));
    // Stored, not forwarded: the log has the events, the workflows do not get them.
    await send(writeKey, users, 4, 2);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(delivered(hook)).toBe(16);
    expect(await running.logRows("message_id LIKE 'op%' AND (event->'properties'->>'n')::int >= 4")).toHaveLength(8);
    // The status reports them as the relay's backlog (each relay measures its lag every 5 s).
    await waitUntil(async () => (await running.ops().status()).backlog.unrelayedRows === 8, { timeoutMs: 15_000, what: 'the backlog in the status' });

    const recovered = await ferry('recover', '--json');
    expect(recovered.code).toBe(EXIT_CODES.ok);
    expect(JSON.parse(recovered.stdout)).toMatchObject({ mode: 'normal' });
    await hook.waitFor((r) => delivered(r) === 24, 30_000, 'the stored events after recovery');
    expectInOrder(hook, users, 6);
    await alerts.waitFor((r) => r.deliveredBodies().some((b) => b.kind === 'recovered'), 30_000, 'the recovered alert');
  });

  it('enters degraded mode when Ferry’s delivery steps keep failing, keeps accepting, and drains in order after recovery', async () => {
    const [hook, alerts] = [await receiver(), await receiver()];
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      supervisor: { alertWebhookUrl: alerts.url },
      settings: { failureBackoff: { initialMs: 200, maxMs: 1_000 } },
    });
    const users = Array.from({ length: 3 }, (_, i) => `cl${i}-${sourceId}`);
    // Ferry's own part broken: every delivery step fails before it sends anything.
    await scope.pipeline.pool.query('ALTER TABLE delivery_outcomes RENAME TO delivery_outcomes_broken');
    await send(writeKey, users, 0, 2);
    await waitUntil(async () => (await scope.pipeline!.ops().status()).mode === 'degraded', { timeoutMs: 60_000, what: 'degraded mode' });
    const alert = await waitUntil(() => alerts.deliveredBodies().find((b: Json) => b.kind === 'degraded'), { timeoutMs: 30_000, what: 'the degraded alert' });
    expect(String(alert.summary)).toContain('failed');
    // Still accepting and storing.
    await send(writeKey, users, 2, 2);
    expect(hook.requests).toEqual([]);

    await scope.pipeline.pool.query('ALTER TABLE delivery_outcomes_broken RENAME TO delivery_outcomes');
    await scope.pipeline.ops().recover();
    await hook.waitFor((r) => delivered(r) === users.length * 4, 60_000, 'every stored event after recovery');
    expectInOrder(hook, users, 4);
  });

  it('enters degraded mode when a broken release fails every workflow task, keeps accepting, and drains in order once fixed', async () => {
    const [hook, alerts] = [await receiver(), await receiver()];
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    const brokenBundle = path.join(process.env.FERRY_TEST_DIR ?? '', `${uniqueId('broken')}.js`);
    fs.writeFileSync(brokenBundle, await bundleFerryWorkflows({ logger: silent, extraInterceptorModules: [require.resolve('../support/brokenRelease')] }));
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      supervisor: { alertWebhookUrl: alerts.url },
      workflowBundlePath: brokenBundle,
    });
    const users = Array.from({ length: 4 }, (_, i) => `wft${i}-${sourceId}`);
    await send(writeKey, users, 0, 2);
    await waitUntil(async () => (await scope.pipeline!.ops().status()).mode === 'degraded', { timeoutMs: 90_000, what: 'degraded mode' });
    const alert = await waitUntil(() => alerts.deliveredBodies().find((b: Json) => b.kind === 'degraded'), { timeoutMs: 30_000, what: 'the degraded alert' });
    expect(String(alert.summary)).toContain('failed');
    // Still accepting and storing, and nothing delivered by the broken code.
    await send(writeKey, users, 2, 2);
    expect(hook.requests).toEqual([]);

    // The fix is deployed; the operator recovers.
    scope.pipeline.workflowBundlePath = testInfra().workflowBundlePath;
    await scope.pipeline.restartWorker();
    await scope.pipeline.ops().recover();
    await hook.waitFor((r) => delivered(r) === users.length * 4, 90_000, 'every stored event after the fix');
    expectInOrder(hook, users, 4);
  });
});
