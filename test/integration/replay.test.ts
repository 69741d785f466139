/**
 * Replays, re-drives and resets through the real dev server, PostgreSQL and HTTP receivers, driven as
 * operators drive them (the `ferry` CLI in-process, the ReplayClient the admin API uses), and judged
 * at the receivers: what arrives again, in which order, and what does not.
 */
import { EXIT_CODES, runCli } from '../../cli/ferry';
import { waitUntil } from '../../processes/wait';
import type { JobStatus } from '../../ops/replayClient';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { perTest } from '../support/perTest';
import type { Receiver } from '../support/receiver';

type Json = Record<string, unknown>;

describe('replay, re-drive and reset', () => {
  const scope = perTest();
  const { receiver } = scope;

  /** Posts `perUser` events per user, each user's one at a time, all answered 200. */
  const send = async (writeKey: string, users: readonly string[], from: number, perUser: number) => {
    await Promise.all(
      users.map(async (user) => {
        for (let n = from; n < from + perUser; n++) {
          const res = await scope.pipeline!.post('/v1/track', { userId: user, event: 'Step', messageId: `${user}-${n}`, properties: { n } }, writeKey);
          expect(res.status).toBe(200);
        }
      }),
    );
  };

  /** Each user's `n`s in the order they arrived, duplicates included. */
  const arrivals = (hook: Receiver, users: readonly string[]) => {
    const byUser = new Map<string, number[]>(users.map((u) => [u, []]));
    for (const body of hook.deliveredBodies()) byUser.get(String(body.userId))?.push((body.properties as { n: number }).n);
    return byUser;
  };

  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

  /** `ferry <argv>` in-process, against this scope.pipeline. */
  const ferry = async (...argv: string[]) => {
    let [stdout, stderr] = ['', ''];
    const running = scope.pipeline!;
    const code = await runCli(argv, {
      ops: async () => running.ops(),
      replays: async () => running.replays(),
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      isTty: false,
      env: {},
    });
    return { code, stdout, stderr };
  };

  it('replays a range to a destination added later, in each user’s order, while live events keep flowing', async () => {
    const [live, fresh] = [await receiver(), await receiver()];
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('live', live.url)]) });
    const users = Array.from({ length: 4 }, (_, i) => `rp${i}-${sourceId}`);
    const from = new Date(Date.now() - 1_000).toISOString();
    await send(writeKey, users, 0, 6);
    await live.waitFor((r) => r.delivered.length === 24, 30_000, 'the live deliveries');
    const to = new Date(Date.now() + 1_000).toISOString();
    // The operator adds a destination and deploys the worker with it; it needs last hour's history.
    await scope.pipeline.restartWorker(workspaceWith(sourceId, writeKey, [webhookDestination('live', live.url), webhookDestination('fresh', fresh.url)]));

    // A dry run counts and sends nothing.
    const dry = await ferry('replay', '--source', sourceId, '--destination', 'fresh', '--from', from, '--to', to, '--dry-run', '--json');
    expect(dry.code).toBe(EXIT_CODES.ok);
    const plan = (JSON.parse(dry.stdout) as JobStatus).plan!;
    expect(plan).toMatchObject({ events: 24, deliveries: 24, truncated: false });
    expect(new Set(plan.lines.map((l) => `${l.userKey}→${l.destinationId}:${l.events}`))).toEqual(new Set(users.map((u) => `user:${u}→fresh:6`)));

    // Slow enough that live traffic flows during the replay.
    const replaying = ferry('replay', '--source', sourceId, '--destination', 'fresh', '--from', from, '--to', to, '--rate', '4', '--json');
    await fresh.waitFor((r) => r.delivered.length >= 2, 30_000, 'the replay under way');
    await send(writeKey, users, 6, 1);
    await live.waitFor((r) => r.delivered.length === 28, 30_000, 'the live events sent during the replay');
    expect(fresh.delivered.length).toBeLessThan(24);

    const done = await replaying;
    expect(done.code).toBe(EXIT_CODES.ok);
    const status = JSON.parse(done.stdout) as JobStatus;
    expect(status).toMatchObject({ state: 'completed', progress: { kind: 'replay', status: 'completed', total: 24, done: 24, counts: { delivered: 24, filtered: 0, aborted: 0 } } });
    expect(done.stderr).toMatch(/24 \/ 24 {2}100%/);
    for (const [user, ns] of arrivals(fresh, users)) expect({ user, ns }).toEqual({ user, ns: range(0, 6) });
    // The replay went only where it was asked to; live received each event once.
    for (const [user, ns] of arrivals(live, users)) expect({ user, ns }).toEqual({ user, ns: range(0, 7) });
    expect(fresh.deliveredBodies().every((b) => typeof b.messageId === 'string' && typeof b.receivedAt === 'string')).toBe(true);
  });

  it('retries a replayed event the destination refuses for now, keeping each user’s order', async () => {
    const hook = await receiver();
    // Live deliveries (each message's first request) succeed; the replay's first try of each fails.
    hook.respond(({ attempt }) => (attempt === 2 ? { status: 503, body: 'busy' } : { status: 200 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const users = [`rt0-${sourceId}`, `rt1-${sourceId}`];
    const from = new Date(Date.now() - 1_000).toISOString();
    await send(writeKey, users, 0, 3);
    await hook.waitFor((r) => r.delivered.length === 6, 30_000, 'the live deliveries');
    const to = new Date(Date.now() + 1_000).toISOString();

    const done = await ferry('replay', '--source', sourceId, '--from', from, '--to', to, '--json');
    expect(JSON.parse(done.stdout)).toMatchObject({ state: 'completed', progress: { done: 6, counts: { delivered: 6, aborted: 0 } } });
    expect(hook.requests.filter((r) => r.status === 503)).toHaveLength(6);
    const succeeded = new Map<string, number[]>(users.map((u) => [u, []]));
    for (const r of hook.delivered) succeeded.get(String((r.body as Json).userId))!.push(((r.body as Json).properties as { n: number }).n);
    for (const [user, ns] of succeeded) expect({ user, ns }).toEqual({ user, ns: [0, 1, 2, 0, 1, 2] });
  });

  it('re-drives dead letters in order once, and a second re-drive sends nothing', async () => {
    const hook = await receiver();
    hook.respond(() => ({ status: 400, body: 'bad schema' }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('picky', hook.url)]) });
    const users = Array.from({ length: 3 }, (_, i) => `rd${i}-${sourceId}`);
    await send(writeKey, users, 0, 4);
    await waitUntil(async () => (await scope.pipeline!.pool.query('SELECT count(*)::int AS n FROM dead_letters WHERE replayed_at IS NULL')).rows[0].n === 12, {
      timeoutMs: 30_000,
      what: 'the dead letters',
    });
    const rejected = hook.requests.length;
    // The destination's schema is fixed.
    hook.respond(() => ({ status: 200 }));

    const dry = await ferry('redrive', '--destination', 'picky', '--dry-run', '--json');
    expect((JSON.parse(dry.stdout) as JobStatus).plan).toMatchObject({ events: 12 });
    expect(hook.requests.length).toBe(rejected);

    const first = await ferry('redrive', '--destination', 'picky', '--json');
    expect(first.code).toBe(EXIT_CODES.ok);
    expect(JSON.parse(first.stdout)).toMatchObject({ state: 'completed', progress: { kind: 'redrive', done: 12, counts: { delivered: 12 } } });
    for (const [user, ns] of arrivals(hook, users)) expect({ user, ns: ns.slice(-4) }).toEqual({ user, ns: range(0, 4) });
    const delivered = hook.delivered.filter((r) => r.status === 200).length;
    expect(delivered).toBe(12);
    expect((await scope.pipeline.pool.query('SELECT count(*)::int AS n FROM dead_letters WHERE replayed_at IS NULL')).rows[0].n).toBe(0);

    const second = await ferry('redrive', '--destination', 'picky', '--json');
    expect(JSON.parse(second.stdout)).toMatchObject({ state: 'completed', progress: { done: 0, total: 0 } });
    expect(hook.delivered.filter((r) => r.status === 200).length).toBe(12);
  });

  it('cancels a replay: it stops sending, and says so', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const users = Array.from({ length: 3 }, (_, i) => `cx${i}-${sourceId}`);
    const from = new Date(Date.now() - 1_000).toISOString();
    await send(writeKey, users, 0, 10);
    await hook.waitFor((r) => r.delivered.length === 30, 30_000, 'the live deliveries');
    const to = new Date(Date.now() + 1_000).toISOString();

    const started = await ferry('replay', '--source', sourceId, '--from', from, '--to', to, '--rate', '3', '--detach', '--json');
    const { workflowId } = JSON.parse(started.stdout) as JobStatus;
    expect(workflowId).toMatch(/^ferry\/replay\//);
    await hook.waitFor((r) => r.delivered.length >= 32, 30_000, 'the replay under way');
    const watched = await ferry('job', workflowId, '--json');
    expect(JSON.parse(watched.stdout)).toMatchObject({ state: 'running', progress: { kind: 'replay', total: 30 } });

    const cancelled = await ferry('cancel', workflowId, '--json');
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ workflowId, state: 'cancelled' });
    const after = hook.delivered.length;
    await new Promise((r) => setTimeout(r, 2_000));
    expect(hook.delivered.length).toBe(after);
    expect(after).toBeLessThan(60);
    // Following a job that ended cancelled is not a success for a script.
    const followed = await ferry('job', workflowId, '--watch');
    expect(followed.code).toBe(EXIT_CODES.jobUnfinished);
    expect(followed.stdout).toContain('cancelled');
  });

  it('waits while its destination is paused, says why, and finishes after the resume', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]), supervisor: {} });
    const users = [`pz0-${sourceId}`, `pz1-${sourceId}`];
    const from = new Date(Date.now() - 1_000).toISOString();
    await send(writeKey, users, 0, 3);
    await hook.waitFor((r) => r.delivered.length === 6, 30_000, 'the live deliveries');
    const to = new Date(Date.now() + 1_000).toISOString();

    await scope.pipeline.ops().pause(['hook'], 'destination maintenance');
    await new Promise((r) => setTimeout(r, 1_500));
    const started = await ferry('replay', '--source', sourceId, '--from', from, '--to', to, '--detach', '--json');
    const { workflowId } = JSON.parse(started.stdout) as JobStatus;
    const waiting = await waitUntil(
      async () => {
        const job = JSON.parse((await ferry('job', workflowId, '--json')).stdout) as JobStatus;
        return job.progress?.status === 'waiting' ? job : undefined;
      },
      { timeoutMs: 15_000, what: 'the replay to wait on the pause' },
    );
    expect(waiting.progress).toMatchObject({ done: 0, waitingFor: expect.stringContaining('destination maintenance') });
    expect(hook.delivered.length).toBe(6);

    await scope.pipeline.ops().resume(['hook']);
    const followed = await ferry('job', workflowId, '--watch', '--json');
    expect(followed.code).toBe(EXIT_CODES.ok);
    expect(JSON.parse(followed.stdout)).toMatchObject({ state: 'completed', progress: { done: 6, counts: { delivered: 6 } } });
    for (const [user, ns] of arrivals(hook, users)) expect({ user, ns }).toEqual({ user, ns: [0, 1, 2, 0, 1, 2] });
  });

  it('reprocesses a user workflow: a reset sends that user’s events again, in order, and no one else’s', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const users = [`rs0-${sourceId}`, `rs1-${sourceId}`];
    await send(writeKey, users, 0, 3);
    await hook.waitFor((r) => r.delivered.length === 6, 30_000, 'the first deliveries');

    const reset = await ferry('reprocess', '--workflow', `ferry/${sourceId}/user:${users[0]}`, '--json');
    expect(reset.code).toBe(EXIT_CODES.ok);
    const result = JSON.parse(reset.stdout) as Json;
    expect(result).toMatchObject({ workflowId: `ferry/${sourceId}/user:${users[0]}`, clearedDeliveries: 3 });
    expect(result.runId).not.toBe(result.previousRunId);
    await hook.waitFor((r) => r.delivered.length === 9, 30_000, 'the reprocessed events');
    await new Promise((r) => setTimeout(r, 1_500));
    const byUser = arrivals(hook, users);
    expect(byUser.get(users[0]!)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(byUser.get(users[1]!)).toEqual([0, 1, 2]);

    const unknown = await ferry('reprocess', '--workflow', 'ferry/nope/user:nobody');
    expect(unknown.code).toBe(EXIT_CODES.unknownDestination);
    expect(unknown.stderr).toContain('ferry/nope/user:nobody');
  });

  it('reprocesses a workflow whose first task is still open, once that task has finished', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    let slowed = false;
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]),
      // The first delivery step lingers after sending: its task, the run's first, stays open meanwhile.
      activities: (activities) => ({
        ...activities,
        async deliverStep(input) {
          const result = await activities.deliverStep(input);
          if (!slowed) {
            slowed = true;
            await new Promise((r) => setTimeout(r, 3_000));
          }
          return result;
        },
      }),
    });
    const user = `open-${sourceId}`;
    await send(writeKey, [user], 0, 1);
    await hook.waitFor((r) => r.delivered.length === 1, 30_000, 'the first delivery');

    const reset = await ferry('reprocess', '--workflow', `ferry/${sourceId}/user:${user}`, '--json');
    expect({ code: reset.code, stderr: reset.stderr }).toEqual({ code: EXIT_CODES.ok, stderr: '' });
    await hook.waitFor((r) => r.delivered.length === 2, 30_000, 'the reprocessed event');
    expect(arrivals(hook, [user]).get(user)).toEqual([0, 0]);
  });

  it('refuses what cannot work with a clear error and starts nothing', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const now = new Date().toISOString();
    expect(await ferry('replay', '--source', 'nope', '--from', now, '--to', 'now')).toMatchObject({ code: EXIT_CODES.unknownDestination, stderr: expect.stringContaining('unknown source "nope"') });
    expect(await ferry('replay', '--source', sourceId, '--destination', 'nope', '--from', now, '--to', 'now')).toMatchObject({ code: EXIT_CODES.unknownDestination });
    expect(await ferry('replay', '--source', sourceId, '--from', 'now', '--to', '2020-01-01T00:00:00Z')).toMatchObject({ code: EXIT_CODES.usage, stderr: expect.stringContaining('range is empty') });
    expect(await ferry('replay', '--source', sourceId, '--from', 'yesterday', '--to', 'now')).toMatchObject({ code: EXIT_CODES.usage, stderr: expect.stringContaining('ISO 8601') });
    expect(await ferry('redrive', '--destination', 'nope')).toMatchObject({ code: EXIT_CODES.unknownDestination });
    const jobs = await scope.pipeline.client.workflow.list({ query: `WorkflowType = 'replayWorkflow' AND TaskQueue = '${scope.pipeline.taskQueue}'` });
    for await (const job of jobs) throw new Error(`a job was started: ${job.workflowId}`);
  });
});
