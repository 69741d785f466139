/**
 * Records the workflow histories that determinism.test.ts replays on every run (test/fixtures/histories),
 * by driving each scenario through an in-process Ferry: the real gateway, relay, worker and supervisor,
 * against the suite's dev server and PostgreSQL. It runs only on demand, `npm run record-histories`,
 * because recording takes about a minute and new fixtures are a deliberate change that a reviewer reads:
 * see "Workflow versioning and determinism" in the README.
 *
 * Every recorded run is closed (finished idle, continued-as-new, or terminated once the scenario is
 * over), so each fixture is a whole history rather than a snapshot of one in progress.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitUntil } from '../../processes/wait';
import { withFreePorts } from '../../processes/ports';
import { resolveTemporalCli } from '../../temporal/binary';
import { type DevServer, startDevServer } from '../../temporal/devServer';
import { supervisorWorkflowId } from '../../workflows/supervisorDefinitions';
import type { PipelineSettings } from '../../workflows/settings';
import { type RecordedRun, recordRuns, writeHistoryFixture } from '../support/histories';
import { type TestPipelineOptions, TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { Receiver, type Responder } from '../support/receiver';

type Tracked = { userId: string; properties: { n: number } };

/** Short enough that every user's run finishes within the scenario, so its history is complete. */
const IDLE: Partial<PipelineSettings> = { idleTimeoutMs: 1_000 };

const recording = process.env.FERRY_RECORD_HISTORIES === '1' ? describe : describe.skip;

recording('recording workflow histories for the determinism test', () => {
  let pipeline: TestPipeline | undefined;
  let server: DevServer | undefined;
  const receivers: Receiver[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
    await server?.stop();
    server = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  const receiver = async (responder?: Responder) => {
    const r = await Receiver.start(responder);
    receivers.push(r);
    return r;
  };

  const start = async (destinations: unknown[], options: Omit<TestPipelineOptions, 'workspace'> = {}) => {
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, destinations), ...options, settings: { ...IDLE, ...options.settings } });
    const running = pipeline;
    return {
      running,
      workflowId: (user: string) => running.workflowId(sourceId, user),
      /** Events n = from … from + count - 1 for `user`, one request each, in order. */
      send: async (user: string, from: number, count = 1) => {
        for (let n = from; n < from + count; n++) {
          const res = await running.post('/v1/track', { userId: user, event: `e${n}`, properties: { n } }, writeKey);
          expect(res.status).toBe(200);
        }
      },
      /** Waits until the user's current run has finished (idle, nothing pending). */
      finished: (user: string) => running.client.workflow.getHandle(running.workflowId(sourceId, user)).result(),
    };
  };

  const delivered = (r: Receiver, user?: string) => new Set(r.deliveredBodies<Tracked>().filter((b) => user === undefined || b.userId === user).map((b) => b.properties.n)).size;

  /** Every closed run of these workflows; visibility may take a moment to show the last one closed. */
  const runsOf = async (running: TestPipeline, workflowIds: string[]): Promise<RecordedRun[]> => {
    const runs: RecordedRun[] = [];
    for (const id of workflowIds) runs.push(...(await waitUntil(() => recordRuns(running.client, id), { timeoutMs: 15_000, what: `the closed runs of ${id}` })));
    return runs;
  };

  /** The supervisor never finishes on its own: stop the worker (no more reports), then end its run. */
  const endSupervisor = async (running: TestPipeline): Promise<string> => {
    await running.stopWorker();
    const id = supervisorWorkflowId(running.taskQueue);
    await running.client.workflow.getHandle(id).terminate('the scenario is recorded');
    return id;
  };

  it('normal: delivered to two destinations, finished when idle, a new run for a later event', async () => {
    const [a, b] = [await receiver(), await receiver()];
    const { running, send, finished, workflowId } = await start([webhookDestination('a', a.url), webhookDestination('b', b.url)]);
    await send('ann', 1, 3);
    await a.waitFor((r) => delivered(r) === 3, 30_000, 'three events at a');
    await b.waitFor((r) => delivered(r) === 3, 30_000, 'three events at b');
    await finished('ann');
    await send('ann', 4);
    await a.waitFor((r) => delivered(r) === 4, 30_000, 'the fourth event');
    await finished('ann');
    writeHistoryFixture({
      scenario: 'normal',
      description: 'One user, two destinations: three events delivered to both, the run finishes when idle, and a later event starts a new run.',
      runs: await runsOf(running, [workflowId('ann')]),
    });
  });

  it('retries: a 503 retried with backoff, the log held while the lane waits', async () => {
    const hook = await receiver(({ body, attempt }) => ((body as Tracked).properties.n === 2 && attempt <= 2 ? { status: 503, body: 'busy' } : { status: 200 }));
    // logHoldAfterMs 0: every backoff takes a log hold, so the hold's local activities are in the history too.
    const { running, send, finished, workflowId } = await start([webhookDestination('hook', hook.url, { initialBackoffMs: 300, maxBackoffMs: 600 })], { settings: { logHoldAfterMs: 0 } });
    await send('rita', 1, 3);
    await hook.waitFor((r) => delivered(r) === 3, 30_000, 'all three events');
    await finished('rita');
    writeHistoryFixture({
      scenario: 'retries',
      description: 'The second of three events is answered 503 twice, then 200: the lane backs off (timers) and holds the log while it waits, then delivers in order.',
      runs: await runsOf(running, [workflowId('rita')]),
    });
  });

  it('own failure: a delivery step that throws for Ferry’s own reason backs off and retries', async () => {
    const hook = await receiver();
    const { running, send, finished, workflowId } = await start([webhookDestination('hook', hook.url)], { settings: { failureBackoff: { initialMs: 300, maxMs: 600 } } });
    // Ferry's own part broken (its database table gone): each step throws before it sends anything.
    await running.pool.query('ALTER TABLE delivery_outcomes RENAME TO delivery_outcomes_broken');
    await send('otto', 1, 2);
    await waitUntil(async () => (await running.lanes(workflowId('otto')))[0]?.lastError !== undefined, { timeoutMs: 30_000, what: 'a failed step' });
    await new Promise((r) => setTimeout(r, 1_000));
    await running.pool.query('ALTER TABLE delivery_outcomes_broken RENAME TO delivery_outcomes');
    await hook.waitFor((r) => delivered(r) === 2, 30_000, 'both events once fixed');
    await finished('otto');
    writeHistoryFixture({
      scenario: 'own-failure',
      description: "Ferry's delivery_outcomes table is missing for a while: the delivery step throws (not a destination's answer), the lane backs off on its own schedule, then delivers both events.",
      runs: await runsOf(running, [workflowId('otto')]),
    });
  });

  it('abort: a 4xx dead-letters one event and the lane carries on', async () => {
    const hook = await receiver(({ body }) => ((body as Tracked).properties.n === 2 ? { status: 400, body: 'bad field: plan' } : { status: 200 }));
    const { running, send, finished, workflowId } = await start([webhookDestination('hook', hook.url)]);
    await send('abe', 1, 3);
    await hook.waitFor((r) => delivered(r) === 2, 30_000, 'the two good events');
    await finished('abe');
    expect(await running.deadLetters('hook')).toHaveLength(1);
    writeHistoryFixture({
      scenario: 'abort',
      description: 'The second of three events is answered 400: it is aborted to the dead-letter table and the lane delivers the third.',
      runs: await runsOf(running, [workflowId('abe')]),
    });
  });

  it('pause: an operator pauses a destination, a lane parks, the resume wakes it; then degrade and recover', async () => {
    const [hook, alerts] = [await receiver(), await receiver()];
    const { running, send, finished, workflowId } = await start([webhookDestination('hook', hook.url)], { supervisor: { alertWebhookUrl: alerts.url } });
    await send('pia', 1);
    await hook.waitFor((r) => delivered(r) === 1, 30_000, 'the first event');
    await running.ops().pause(['hook'], 'recording');
    // Each worker re-reads the control tables (TestPipeline: every 300 ms) before a step finds the pause.
    await new Promise((r) => setTimeout(r, 1_000));
    await send('pia', 2, 2);
    await waitUntil(async () => (await running.pool.query('SELECT 1 FROM paused_lanes WHERE destination_id = $1', ['hook'])).rowCount === 1, { timeoutMs: 30_000, what: 'the lane to park' });
    await running.ops().resume(['hook']);
    await hook.waitFor((r) => delivered(r) === 3, 30_000, 'the held events after the resume');
    await finished('pia');
    await running.ops().degrade('recording');
    await running.ops().recover();
    await alerts.waitFor((r) => r.deliveredBodies().some((body) => body.kind === 'recovered'), 30_000, 'the recovered alert');
    const supervisor = await endSupervisor(running);
    writeHistoryFixture({
      scenario: 'pause',
      description:
        "An operator pauses the user's only destination: the lane's next step finds it paused and parks the lane; the resume wakes it and it delivers in order. Then the operator degrades and recovers the pipeline. The supervisor's run is terminated once the scenario is over.",
      runs: await runsOf(running, [workflowId('pia'), supervisor]),
    });
  });

  it('breaker: a failing destination is paused automatically, probed and resumed', async () => {
    let healthy = false;
    const [flaky, alerts] = [await receiver(() => (healthy ? { status: 200 } : { status: 503, body: 'down' })), await receiver()];
    const { running, send, finished, workflowId } = await start([webhookDestination('flaky', flaky.url)], { supervisor: { alertWebhookUrl: alerts.url } });
    const users = ['bea', 'ben'];
    await Promise.all(users.map((user) => send(user, 1, 3)));
    const state = async () => (await running.ops().status()).destinations.find((d) => d.id === 'flaky')?.state;
    await waitUntil(async () => (await state()) === 'paused', { timeoutMs: 30_000, what: 'flaky to be paused' });
    healthy = true;
    await flaky.waitFor((r) => users.every((user) => delivered(r, user) === 3), 60_000, 'every event after the probes');
    await waitUntil(async () => (await state()) === 'active', { timeoutMs: 30_000, what: 'flaky to be resumed' });
    await Promise.all(users.map((user) => finished(user)));
    const supervisor = await endSupervisor(running);
    writeHistoryFixture({
      scenario: 'breaker',
      description:
        "Two users' events all fail with 503 until the supervisor's breaker pauses the destination and the lanes park; the destination recovers, the probe lanes succeed, it is resumed and every lane drains. The supervisor's run is terminated once the scenario is over.",
      runs: await runsOf(running, [...users.map(workflowId), supervisor]),
    });
  });

  it('continue-as-new: a user’s run hands its pending lane over to the next', async () => {
    // Slow enough that events are still queued when a run hands over.
    const hook = await receiver(() => ({ status: 200, delayMs: 30 }));
    const { running, send, finished, workflowId } = await start([webhookDestination('hook', hook.url)], { settings: { continueAsNewAfterSignals: 1, maxBatchSize: 2 } });
    for (let phase = 0; phase < 3; phase++) {
      await send('cara', phase * 4 + 1, 4);
      await hook.waitFor((r) => delivered(r) === (phase + 1) * 4, 30_000, `phase ${phase + 1}`);
    }
    await finished('cara');
    const runs = await runsOf(running, [workflowId('cara')]);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    writeHistoryFixture({
      scenario: 'continue-as-new',
      description: 'A run continues-as-new after every signal (continueAsNewAfterSignals 1) while events are queued, carrying its lane over; the last run finishes when idle.',
      runs,
    });
  });

  it('supervisor continue-as-new: the supervisor hands its state over when the server suggests it', async () => {
    // A dev server of its own that suggests continue-as-new early: the supervisor's own threshold
    // (2 000 events) takes many minutes of reports to reach.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-record-'));
    dirs.push(dir);
    const binary = resolveTemporalCli();
    server = await withFreePorts(2, ([port, uiPort]) =>
      // Its log in the error says why it did not start, and lets withFreePorts retry on a port taken meanwhile.
      startDevServer({ binary, dbFile: path.join(dir, 'temporal.db'), logFile: path.join(dir, 'server.log'), port, uiPort, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 40 } }),
    );
    const hook = await receiver();
    const { running } = await start([webhookDestination('hook', hook.url)], { supervisor: {}, temporalAddress: server.address });
    const id = supervisorWorkflowId(running.taskQueue);
    await running.ops().pause(['hook'], 'carried over');
    await waitUntil(
      async () => {
        let runs = 0;
        for await (const _ of running.client.workflow.list({ query: `WorkflowId = '${id}'` })) runs += 1;
        return runs >= 3;
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'the supervisor to continue-as-new twice' },
    );
    await running.ops().resume(['hook']);
    await endSupervisor(running);
    writeHistoryFixture({
      scenario: 'supervisor-continue-as-new',
      description:
        "The dev server suggests continue-as-new after 40 events: the supervisor, fed health reports and holding an operator's pause, continues-as-new with its state and is resumed in a later run, then terminated once the scenario is over.",
      runs: await runsOf(running, [id]),
    });
  });
  it('replay jobs: a replay that retries, a dry run, and a re-drive', async () => {
    // Live deliveries succeed; the replay's first try of each event is answered 503.
    const hook = await receiver(({ attempt }) => (attempt === 2 ? { status: 503, body: 'busy' } : { status: 200 }));
    const strict = await receiver(({ body }) => ((body as Tracked).properties.n === 2 ? { status: 400, body: 'bad field' } : { status: 200 }));
    const { running, send, finished } = await start([webhookDestination('hook', hook.url, { initialBackoffMs: 200, maxBackoffMs: 400 }), webhookDestination('strict', strict.url)]);
    const sourceId = running.workspace.sources[0]!.id;
    const from = new Date(Date.now() - 1_000);
    await send('ray', 1, 3);
    await hook.waitFor((r) => delivered(r) === 3, 30_000, 'the live events');
    await finished('ray');
    const to = new Date(Date.now() + 1_000);
    const replays = running.replays();
    const jobs = [
      await replays.replay({ sourceId, destinationId: 'hook', from, to, pacing: { eventsPerSecond: 50 } }),
      await replays.replay({ sourceId, from, to, dryRun: true }),
    ];
    for (const job of jobs) await running.client.workflow.getHandle(job.workflowId).result();
    strict.respond(() => ({ status: 200 }));
    const redrive = await replays.redrive({ destinationId: 'strict' });
    await running.client.workflow.getHandle(redrive.workflowId).result();
    expect(delivered(strict)).toBe(3);
    writeHistoryFixture({
      scenario: 'replay-jobs',
      description:
        "A replay of one user's three events to one destination, whose first try of each is answered 503 and retried after a backoff; a dry run of the same range; and a re-drive of another destination's dead letter, marked re-driven.",
      runs: await runsOf(running, [...jobs, redrive].map((job) => job.workflowId)),
    });
  });
});
