/**
 * Ordered, durable delivery semantics through the real gateway, worker, dev server and webhooks.
 */
import { waitUntil } from '../../processes/wait';
import { perTest } from '../support/perTest';
import type { Receiver } from '../support/receiver';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';

type Tracked = { userId: string; event: string; messageId: string; properties: { n: number } };

async function sendInOrder(pipeline: TestPipeline, writeKey: string, userId: string, count: number, from = 1): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const res = await pipeline.post('/v1/track', { userId, event: `e${n}`, properties: { n } }, writeKey);
    expect(res.status).toBe(200);
  }
}

function numbersFor(receiver: Receiver, userId: string): number[] {
  return receiver.deliveredBodies<Tracked>().filter((b) => b.userId === userId).map((b) => b.properties.n);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('ordered delivery', () => {
  const scope = perTest();
  const { receiver } = scope;

  it('holds a failing lane in order while another destination of the same user keeps flowing', async () => {
    const slow = await receiver();
    const fast = await receiver();
    // The 3rd event fails twice with 503, then succeeds.
    slow.respond(({ body, attempt }) => ((body as Tracked).properties.n === 3 && attempt <= 2 ? { status: 503 } : { status: 200 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [
        webhookDestination('slow', slow.url, { initialBackoffMs: 1_000, maxBackoffMs: 1_000 }),
        webhookDestination('fast', fast.url),
      ]),
    });
    await sendInOrder(scope.pipeline, writeKey, 'alice', 10);

    await fast.waitFor((r) => r.delivered.length === 10, 30_000, 'fast lane to get all 10');
    await slow.waitFor((r) => r.delivered.length === 10, 30_000, 'slow lane to get all 10');

    expect(numbersFor(fast, 'alice')).toEqual(range(1, 10));
    expect(numbersFor(slow, 'alice')).toEqual(range(1, 10));
    // Two 503s for event 3, and nothing after event 3 was attempted before event 3 succeeded.
    expect(slow.requests.map((r) => [(r.body as Tracked).properties.n, r.status])).toEqual([
      [1, 200], [2, 200], [3, 503], [3, 503], [3, 200], ...range(4, 10).map((n) => [n, 200]),
    ]);
    // The healthy destination did not wait for the failing one.
    const fastDone = Math.max(...fast.delivered.map((r) => r.at));
    const slowThird = slow.delivered.find((r) => (r.body as Tracked).properties.n === 3)!.at;
    expect(fastDone).toBeLessThan(slowThird);
  });

  it('aborts on a 4xx, records a dead letter with the details, and carries on with later events', async () => {
    const hook = await receiver();
    hook.respond(({ body }) => ((body as Tracked).properties.n === 2 ? { status: 400, body: 'bad field: plan' } : { status: 200 }));
    const [sourceId, writeKey, destinationId] = [uniqueId('src'), uniqueId('wk'), uniqueId('dest')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination(destinationId, hook.url)]) });
    await sendInOrder(scope.pipeline, writeKey, 'bob', 4);

    await hook.waitFor((r) => r.delivered.length === 3, 30_000, '3 deliveries');
    expect(numbersFor(hook, 'bob')).toEqual([1, 3, 4]);
    expect(hook.requests.filter((r) => (r.body as Tracked).properties.n === 2)).toHaveLength(1);

    let rows: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 100 && rows.length === 0; i++) {
      rows = await scope.pipeline.deadLetters(destinationId);
      if (rows.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source_id: sourceId,
      destination_id: destinationId,
      workflow_id: scope.pipeline.workflowId(sourceId, 'bob'),
      stage: 'deliver',
      attempts: 1,
      last_status: 400,
      response_body: 'bad field: plan',
      reason: 'destination rejected the event with HTTP 400',
      event: expect.objectContaining({ event: 'e2', userId: 'bob' }),
      payload: [expect.objectContaining({ kind: 'http', url: hook.url })],
    });
    const lanes = await scope.pipeline.lanes(scope.pipeline.workflowId(sourceId, 'bob'));
    expect(lanes).toEqual([expect.objectContaining({ destinationId, depth: 0, delivered: 3, aborted: 1 })]);
  });

  it('honours Retry-After on a 429', async () => {
    const hook = await receiver();
    hook.respond(({ attempt }) => (attempt === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    // The configured backoff (200 ms) is far shorter than Retry-After, so only the header can explain
    // the wait; the cap (5 s) lets the header's 2 s stand.
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url, { initialBackoffMs: 200, maxBackoffMs: 5_000 })]) });
    await sendInOrder(scope.pipeline, writeKey, 'carol', 1);
    await hook.waitFor((r) => r.delivered.length === 1, 30_000, 'the retried delivery');
    const [first, second] = hook.requests;
    expect(first!.status).toBe(429);
    expect(second!.status).toBe(200);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
  });

  it('shows a stuck lane to operators: the lanes query and the FerryStuckDestinations search attribute', async () => {
    const hook = await receiver();
    let healthy = false;
    hook.respond(() => (healthy ? { status: 200 } : { status: 502, body: 'upstream down' }));
    const [sourceId, writeKey, destinationId] = [uniqueId('src'), uniqueId('wk'), uniqueId('dest')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination(destinationId, hook.url)]) });
    await sendInOrder(scope.pipeline, writeKey, 'dave', 3);
    const workflowId = scope.pipeline.workflowId(sourceId, 'dave');

    await hook.waitFor((r) => r.requests.length >= 2, 30_000, 'two failed attempts');
    const lanes = await scope.pipeline.lanes(workflowId);
    expect(lanes).toHaveLength(1);
    expect(lanes[0]).toMatchObject({ destinationId, depth: 3, head: { type: 'track', event: 'e1' }, lastStatus: 502, lastError: 'HTTP 502: upstream down' });
    expect(lanes[0]!.attempts).toBeGreaterThanOrEqual(1);

    const stuckQuery = `FerryStuckDestinations = '${destinationId}'`;
    await eventually(async () => {
      const found = [];
      for await (const wf of scope.pipeline!.client.workflow.list({ query: stuckQuery })) found.push(wf.workflowId);
      expect(found).toEqual([workflowId]);
    });

    healthy = true;
    await hook.waitFor((r) => r.delivered.length === 3, 30_000, 'recovery');
    expect(numbersFor(hook, 'dave')).toEqual([1, 2, 3]);
    await eventually(async () => {
      const found = [];
      for await (const wf of scope.pipeline!.client.workflow.list({ query: stuckQuery })) found.push(wf.workflowId);
      expect(found).toEqual([]);
    });
  });

  it('delivers a duplicate messageId once', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const event = { userId: 'erin', event: 'Paid', messageId: 'm-dup-1', properties: { n: 1 } };
    expect((await scope.pipeline.post('/v1/track', event, writeKey)).status).toBe(200);
    expect((await scope.pipeline.post('/v1/track', event, writeKey)).status).toBe(200);
    expect((await scope.pipeline.post('/v1/track', { ...event, messageId: 'm-2', properties: { n: 2 } }, writeKey)).status).toBe(200);
    await hook.waitFor((r) => r.delivered.length >= 2, 30_000, 'two deliveries');
    await new Promise((r) => setTimeout(r, 500));
    expect(numbersFor(hook, 'erin')).toEqual([1, 2]);
  });

  // Workers share the workflow modules between workflows (preloaded once per thread): what one
  // user's workflow remembers must never reach another's.
  it('keeps each user’s workflow state its own: the same messageId from three users is delivered to each', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const users = ['gina', 'hugo', 'iris'];
    for (const userId of users) {
      const res = await scope.pipeline.post('/v1/track', { userId, event: 'Paid', messageId: 'm-shared', properties: { n: 1 } }, writeKey);
      expect(res.status).toBe(200);
    }
    await sendInOrder(scope.pipeline, writeKey, 'gina', 2, 2);
    await hook.waitFor((r) => r.delivered.length >= 5, 30_000, 'five deliveries');
    await new Promise((r) => setTimeout(r, 500));
    expect(numbersFor(hook, 'gina')).toEqual([1, 2, 3]);
    expect(numbersFor(hook, 'hugo')).toEqual([1]);
    expect(numbersFor(hook, 'iris')).toEqual([1]);
    // Each run counts its own deliveries only.
    const counts: Record<string, number[]> = {};
    for (const userId of users) counts[userId] = (await scope.pipeline.lanes(scope.pipeline.workflowId(sourceId, userId))).map((lane) => lane.delivered);
    expect(counts).toEqual({ gina: [3], hugo: [1], iris: [1] });
  });

  it('keeps order across continue-as-new runs and carries pending events over', async () => {
    const hook = await receiver();
    // Slow enough that events are still queued when a run hands over to the next.
    hook.respond(() => ({ status: 200, delayMs: 20 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      settings: { continueAsNewAfterSignals: 1, maxBatchSize: 3 },
    });
    // Four phases of 10 events: the relay coalesces a phase's events into one or a few signals, and
    // every signal makes the run hand over, so each phase hands over at least once, whatever the timing.
    for (let phase = 0; phase < 4; phase++) {
      await sendInOrder(scope.pipeline, writeKey, 'frank', 10, phase * 10 + 1);
      await hook.waitFor((r) => r.delivered.length === (phase + 1) * 10, 60_000, `phase ${phase + 1} deliveries`);
    }
    expect(numbersFor(hook, 'frank')).toEqual(range(1, 40));

    const workflowId = scope.pipeline.workflowId(sourceId, 'frank');
    const runs: string[] = [];
    await eventually(async () => {
      runs.length = 0;
      for await (const wf of scope.pipeline!.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(wf.runId);
      expect(runs.length).toBeGreaterThanOrEqual(4);
    });
    // At least one hand-over carried events that were still pending, in its continue-as-new input.
    let carried = 0;
    for (const runId of runs) {
      const history = await scope.pipeline.client.workflow.getHandle(workflowId, runId).fetchHistory();
      for (const event of history.events ?? []) {
        const data = event.workflowExecutionContinuedAsNewEventAttributes?.input?.payloads?.[0]?.data;
        if (!data) continue;
        const args = JSON.parse(Buffer.from(data).toString('utf8')) as { carry?: { lanes: Array<{ items: unknown[] }> } };
        carried += (args.carry?.lanes ?? []).reduce((n, lane) => n + lane.items.length, 0);
      }
    }
    expect(carried).toBeGreaterThan(0);
  });

  it('runs a workflow the relay starts on the settings it hands over; a run continued-as-new asks its worker', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      settings: { maxBatchSize: 5 },
      // Told apart from the worker's: the first run hands over after its first signal, undelivered.
      relaySettings: { maxBatchSize: 1, continueAsNewAfterSignals: 1 },
    });
    const batch = range(1, 5).map((n) => ({ type: 'track', userId: 'hana', event: 'Step', properties: { n } }));
    expect((await scope.pipeline.post('/v1/batch', { batch }, writeKey)).status).toBe(200);
    await hook.waitFor((r) => r.delivered.length === 5, 30_000, 'five deliveries');
    expect(numbersFor(hook, 'hana')).toEqual(range(1, 5));

    const workflowId = scope.pipeline.workflowId(sourceId, 'hana');
    const runs: Array<{ runId: string; startTime: Date }> = [];
    await eventually(async () => {
      runs.length = 0;
      for await (const wf of scope.pipeline!.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(wf);
      expect(runs.length).toBeGreaterThanOrEqual(2);
    });
    runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    const localActivities = async (runId: string) => {
      const history = await scope.pipeline!.client.workflow.getHandle(workflowId, runId).fetchHistory();
      return (history.events ?? []).flatMap((event) => {
        const marker = event.markerRecordedEventAttributes;
        const data = marker?.details?.data?.payloads?.[0]?.data;
        if (!data) return [];
        const summary = event.userMetadata?.summary?.data;
        const { activity_type: type } = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string };
        return [summary ? `${type}: ${JSON.parse(Buffer.from(summary).toString('utf8')) as string}` : type];
      });
    };
    // The first run asked no one for its settings, and rolled over on the relay's continueAsNewAfterSignals.
    expect(await localActivities(runs[0]!.runId)).toEqual([]);
    // The next asked its worker, and delivered in steps of the worker's maxBatchSize, not the relay's. The
    // step's marker is written with the workflow task that ran it, which may end after the deliveries.
    await eventually(async () => expect(await localActivities(runs[1]!.runId)).toEqual(['pipelineSettings', 'deliverStep: deliver 5 event(s) → hook']));
  });

  it('finishes an idle run, and the next event starts a new one', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      settings: { idleTimeoutMs: 500 },
    });
    await sendInOrder(scope.pipeline, writeKey, 'gina', 1);
    await hook.waitFor((r) => r.delivered.length === 1);
    const handle = scope.pipeline.client.workflow.getHandle(scope.pipeline.workflowId(sourceId, 'gina'));
    await handle.result();
    expect((await handle.describe()).status.name).toBe('COMPLETED');

    await sendInOrder(scope.pipeline, writeKey, 'gina', 1, 2);
    await hook.waitFor((r) => r.delivered.length === 2);
    expect(numbersFor(hook, 'gina')).toEqual([1, 2]);
    expect((await scope.pipeline.client.workflow.getHandle(handle.workflowId).describe()).status.name).toBe('RUNNING');
  });

  it('does not finish an idle run on an event that arrived while it was releasing the log', async () => {
    const hook = await receiver();
    // A first attempt that fails keeps the late event pending: only a run still going retries it.
    hook.respond(({ body, attempt }) => ((body as Tracked).properties.n === 2 && attempt === 1 ? { status: 503 } : { status: 200 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    let releasing: () => void = () => undefined;
    const releaseStarted = new Promise<void>((r) => (releasing = r));
    let releases = 0;
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      settings: { idleTimeoutMs: 500 },
      // The first release takes longer than a workflow task may (10 s), so the worker keeps the task
      // alive and the next event's signal reaches the run before the release's answer does.
      activities: (activities) => ({
        ...activities,
        async releaseLog(input) {
          releases += 1;
          if (releases === 1) {
            releasing();
            await new Promise((r) => setTimeout(r, 12_000));
          }
          return activities.releaseLog(input);
        },
      }),
    });
    await sendInOrder(scope.pipeline, writeKey, 'hana', 1);
    await releaseStarted;
    await sendInOrder(scope.pipeline, writeKey, 'hana', 1, 2);

    await hook.waitFor((r) => r.delivered.length === 2, 40_000, 'the event sent while the run was releasing');
    expect(numbersFor(hook, 'hana')).toEqual([1, 2]);
  }, 60_000);

  it('gives up on an event once its retry window has passed and it was tried enough, then moves on', async () => {
    const hook = await receiver();
    hook.respond(() => ({ status: 503, body: 'still down' }));
    const [sourceId, writeKey, destinationId] = [uniqueId('src'), uniqueId('wk'), uniqueId('dest')];
    const retry = { initialBackoffMs: 200, maxBackoffMs: 400, windowMs: 1_500, minAttempts: 3 };
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination(destinationId, hook.url, retry)]) });
    await sendInOrder(scope.pipeline, writeKey, 'hana', 2);

    const attemptsOf = (n: number) => hook.requests.filter((r) => (r.body as Tracked).properties.n === n);
    await hook.waitFor(() => attemptsOf(2).length >= 3, 60_000, 'the second event to be tried three times');
    const [first, second] = [attemptsOf(1), attemptsOf(2)];
    expect(first.length).toBeGreaterThanOrEqual(3);
    expect(first.at(-1)!.at - first[0]!.at).toBeGreaterThanOrEqual(retry.windowMs);
    // Given up, the first event is never tried again, and the lane moves on to the second.
    expect(first.at(-1)!.at).toBeLessThanOrEqual(second[0]!.at);
    await waitUntilRows(scope.pipeline, destinationId, 2);
    const rows = await scope.pipeline.deadLetters(destinationId);
    expect(rows[0]).toMatchObject({ stage: 'deliver', last_status: 503, reason: expect.stringMatching(/^gave up after \d+ attempts over \d+ s \(retry window 2 s\)/) });
    expect(rows[0]!.attempts).toBe(first.length);
  });

  it.each([
    ['disabled', (destination: Record<string, unknown>) => [{ ...destination, enabled: false }], 'is disabled'],
    ['removed', () => [], 'is no longer in the workspace config'],
  ])('aborts pending events of a destination that was %s, and never calls it again', async (_, change, why) => {
    const hook = await receiver();
    hook.respond(() => ({ status: 503 }));
    const [sourceId, writeKey, destinationId] = [uniqueId('src'), uniqueId('wk'), uniqueId('dest')];
    const destination = webhookDestination(destinationId, hook.url, { initialBackoffMs: 300, maxBackoffMs: 300 }) as Record<string, unknown>;
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [destination]) });
    await sendInOrder(scope.pipeline, writeKey, 'ivan', 3);
    await hook.waitFor((r) => r.requests.length >= 2, 30_000, 'failed attempts');

    await scope.pipeline.restartWorker(workspaceWith(sourceId, writeKey, change(destination)));
    const callsAtRestart = hook.requests.length;
    await waitUntilRows(scope.pipeline, destinationId, 3);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(hook.requests.length).toBe(callsAtRestart);
    const rows = await scope.pipeline.deadLetters(destinationId);
    expect(rows.map((r) => [(r.event as Tracked).properties.n, r.reason])).toEqual([1, 2, 3].map((n) => [n, `destination ${destinationId} ${why}`]));
  });

  it('keeps a lane’s backoff across continue-as-new while its destination fails', async () => {
    const hook = await receiver();
    // The first event is refused once with Retry-After: 3 s; meanwhile enough signals arrive to make
    // the run hand over to a new one more than once.
    hook.respond(({ body, attempt }) => ((body as Tracked).properties.n === 1 && attempt === 1 ? { status: 503, headers: { 'retry-after': '3' } } : { status: 200 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url, { initialBackoffMs: 200, maxBackoffMs: 10_000 })]),
      settings: { continueAsNewAfterSignals: 2 },
    });
    await sendInOrder(scope.pipeline, writeKey, 'jules', 1);
    await hook.waitFor((r) => r.requests.length === 1, 30_000, 'the refused first attempt');
    const firstRun = (await scope.pipeline.client.workflow.getHandle(scope.pipeline.workflowId(sourceId, 'jules')).describe()).runId;
    await sendInOrder(scope.pipeline, writeKey, 'jules', 6, 2);

    await hook.waitFor((r) => r.delivered.length === 7, 30_000, 'all seven events');
    const [refused, retried] = hook.requests;
    expect((retried!.body as Tracked).properties.n).toBe(1);
    expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(3_000);
    expect(numbersFor(hook, 'jules')).toEqual(range(1, 7));
    const lastRun = (await scope.pipeline.client.workflow.getHandle(scope.pipeline.workflowId(sourceId, 'jules')).describe()).runId;
    expect(lastRun).not.toBe(firstRun);
  });

  it('never sends from two steps of one lane at once: a step that would outlast its timeout leaves the rest to the next', async () => {
    const hook = await receiver();
    // 30 events at 150 ms each take 4.5 s: three times the step's timeout.
    hook.respond(() => ({ status: 200, delayMs: 150 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      settings: { deliverTimeoutMs: 1_500 },
    });
    const batch = range(1, 30).map((n) => ({ type: 'track', userId: 'kim', event: `e${n}`, properties: { n } }));
    expect((await scope.pipeline.post('/v1/batch', { batch }, writeKey)).status).toBe(200);

    await hook.waitFor((r) => new Set(r.delivered.map((d) => (d.body as Tracked).properties.n)).size === 30, 60_000, 'all 30 events');
    await new Promise((r) => setTimeout(r, 1_000));
    // Each event sent once: a step cut off by its timeout would go on sending while the next one
    // sends the same events again.
    expect(hook.requests.map((r) => (r.body as Tracked).properties.n)).toEqual(range(1, 30));
    // And no step timed out: each returned in time with what it had settled.
    const history = await scope.pipeline.client.workflow.getHandle(scope.pipeline.workflowId(sourceId, 'kim')).fetchHistory();
    const failedSteps = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.failure);
    expect(failedSteps).toEqual([]);
  });
});

async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function waitUntilRows(pipeline: TestPipeline, destinationId: string, count: number): Promise<void> {
  await waitUntil(async () => (await pipeline.deadLetters(destinationId)).length >= count, { timeoutMs: 30_000, what: `${count} dead letters` });
}
