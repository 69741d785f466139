/**
 * The supervisor through the real dev server, PostgreSQL and HTTP receivers: a failing destination is
 * paused and probed back, operators pause, resume, degrade and recover, and Ferry's own failures put
 * the pipeline in degraded mode. In every case the gateway keeps answering 200 and each user's order
 * survives.
 */
import { waitUntil } from '../../processes/wait';
import { UnknownDestinationError } from '../../ops/supervisorClient';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { Receiver } from '../support/receiver';

type Json = Record<string, unknown>;

describe('the supervisor', () => {
  let pipeline: TestPipeline | undefined;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = await Receiver.start();
    receivers.push(r);
    return r;
  };

  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  /** Posts `perUser` events for each user, one request at a time per user, all answered 200. */
  const send = async (writeKey: string, users: string[], from: number, perUser: number) => {
    await Promise.all(
      users.map(async (user) => {
        for (let n = from; n < from + perUser; n++) {
          const res = await pipeline!.post('/v1/track', { userId: user, event: 'Step', messageId: `${user}-${n}`, properties: { n } }, writeKey);
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
    pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('flaky', flaky.url), webhookDestination('steady', steady.url)]),
      supervisor: { alertWebhookUrl: alerts.url },
    });
    const users = Array.from({ length: 6 }, (_, i) => `u${i}-${sourceId}`);
    await send(writeKey, users, 0, 3);

    // At least half of at least 5 attempts failed within the window: paused, with an alert.
    await waitUntil(async () => (await pipeline!.ops().status()).destinations.find((d) => d.id === 'flaky')?.state === 'paused', { timeoutMs: 30_000, what: 'flaky to be paused' });
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
    const status = await pipeline.ops().status();
    expect(status.destinations.find((d) => d.id === 'flaky')).toMatchObject({ state: 'paused', by: 'auto' });
    expect(status.destinations.find((d) => d.id === 'steady')).toMatchObject({ state: 'active' });
    // The parked users show in Temporal's visibility, as `ferry stuck` lists them.
    await waitUntil(async () => (await pipeline!.ops().stuck('flaky')).filter((u) => u.sourceId === sourceId).length === users.length, {
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
    expect((await pipeline.ops().status()).destinations.find((d) => d.id === 'flaky')?.state).toBe('active');
  });

  it('lets operators pause and resume a destination, and degrade and recover the pipeline', async () => {
    const [hook, alerts] = [await receiver(), await receiver()];
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]), supervisor: { alertWebhookUrl: alerts.url } });
    const ops = pipeline.ops();
    const users = Array.from({ length: 4 }, (_, i) => `op${i}-${sourceId}`);
    await send(writeKey, users, 0, 2);
    await hook.waitFor((r) => delivered(r) === 8, 30_000, 'the first events');

    await expect(ops.pause(['nope'])).rejects.toBeInstanceOf(UnknownDestinationError);
    const paused = await ops.pause(['hook'], 'maintenance window');
    expect(paused.destinations).toEqual([expect.objectContaining({ id: 'hook', state: 'paused', by: 'operator', reason: 'maintenance window' })]);
    // A pause reaches the workers within a control refresh; events sent after it wait.
    await new Promise((r) => setTimeout(r, 1_500));
    await send(writeKey, users, 2, 2);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(delivered(hook)).toBe(8);
    // An operator's pause is not probed: it lasts until resumed.
    const resumed = await ops.resume(['hook']);
    expect(resumed.destinations[0]).toMatchObject({ id: 'hook', state: 'active' });
    await hook.waitFor((r) => delivered(r) === 16, 30_000, 'the held events after the resume');

    const degraded = await ops.degrade('upgrading the warehouse');
    expect(degraded).toMatchObject({ mode: 'degraded', modeBy: 'operator', modeReason: 'upgrading the warehouse' });
    await alerts.waitFor((r) => r.deliveredBodies().some((b) => b.kind === 'degraded'), 30_000, 'the degraded alert');
    await new Promise((r) => setTimeout(r, 1_500));
    // Stored, not forwarded: the log has the events, the workflows do not get them.
    await send(writeKey, users, 4, 2);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(delivered(hook)).toBe(16);
    expect(await pipeline.logRows("message_id LIKE 'op%' AND (event->'properties'->>'n')::int >= 4")).toHaveLength(8);
    // The status reports them as the relay's backlog (each relay measures its lag every 5 s).
    await waitUntil(async () => (await ops.status()).backlog.unrelayedRows === 8, { timeoutMs: 15_000, what: 'the backlog in the status' });

    expect(await ops.recover()).toMatchObject({ mode: 'normal' });
    await hook.waitFor((r) => delivered(r) === 24, 30_000, 'the stored events after recovery');
    expectInOrder(hook, users, 6);
    await alerts.waitFor((r) => r.deliveredBodies().some((b) => b.kind === 'recovered'), 30_000, 'the recovered alert');
  });

  it('enters degraded mode when Ferry’s own steps keep failing, keeps accepting, and drains in order after recovery', async () => {
    const [hook, alerts] = [await receiver(), await receiver()];
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      supervisor: { alertWebhookUrl: alerts.url },
      settings: { failureBackoff: { initialMs: 200, maxMs: 1_000 } },
    });
    const users = Array.from({ length: 3 }, (_, i) => `cl${i}-${sourceId}`);
    // Ferry's own part broken: every delivery step fails before it sends anything.
    await pipeline.pool.query('ALTER TABLE delivery_outcomes RENAME TO delivery_outcomes_broken');
    await send(writeKey, users, 0, 2);
    await waitUntil(async () => (await pipeline!.ops().status()).mode === 'degraded', { timeoutMs: 60_000, what: 'degraded mode' });
    const alert = await waitUntil(() => alerts.deliveredBodies().find((b: Json) => b.kind === 'degraded'), { timeoutMs: 30_000, what: 'the degraded alert' });
    expect(String(alert.summary)).toContain('failed');
    // Still accepting and storing.
    await send(writeKey, users, 2, 2);
    expect(hook.requests).toEqual([]);

    await pipeline.pool.query('ALTER TABLE delivery_outcomes_broken RENAME TO delivery_outcomes');
    await pipeline.ops().recover();
    await hook.waitFor((r) => delivered(r) === users.length * 4, 60_000, 'every stored event after recovery');
    expectInOrder(hook, users, 4);
  });
});
