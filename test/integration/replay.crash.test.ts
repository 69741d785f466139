/**
 * A replay survives a crash of the worker running it: Ferry runs as `npm start` runs it (separate
 * processes), a worker is killed with SIGKILL in the middle of a replay, and every event of the range
 * still arrives exactly once more at the destination, in each user's order. The only duplicates
 * allowed are the requests the destination held open when the worker died, counted at the receiver.
 */
import { waitUntil } from '../../processes/wait';
import type { JobStatus } from '../../ops/replayClient';
import { ContractStack } from '../support/processStack';
import { Receiver } from '../support/receiver';

type Json = Record<string, unknown>;

const TOKEN = 'replay-crash-token-0123456789';
const SOURCE = 'replay-crash';
const WRITE_KEY = 'replay-crash-key';

const webhook = (id: string, url: string) => ({ id, enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: url } });
const workspace = (destinations: unknown[]) => ({ sources: [{ id: SOURCE, writeKey: WRITE_KEY, enabled: true, destinations }] });

describe('a replay and a worker crash', () => {
  let stack: ContractStack;
  let live: Receiver;
  let fresh: Receiver;

  beforeAll(async () => {
    [live, fresh] = [await Receiver.start(), await Receiver.start()];
    stack = await ContractStack.start({ workspace: workspace([webhook('live', live.url)]), env: { FERRY_ADMIN_TOKEN: TOKEN } });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await Promise.all([live?.close(), fresh?.close()]);
  });

  it('sends every event of the range exactly once more, in order, duplicating only what was in flight', async () => {
    const users = Array.from({ length: 20 }, (_, i) => `crash-replay-${i}`);
    const from = new Date(Date.now() - 1_000).toISOString();
    await Promise.all(
      users.map(async (userId) => {
        for (let n = 0; n < 10; n++) {
          const res = await stack.post('/v1/track', { event: 'Step', userId, messageId: `${userId}-${n}`, properties: { n } }, WRITE_KEY);
          expect(res.status).toBe(200);
        }
      }),
    );
    await live.waitFor((r) => r.delivered.length === 200, 120_000, 'the live deliveries');
    const to = new Date(Date.now() + 1_000).toISOString();

    // The operator adds a destination that needs this history, and deploys: a new worker and gateway.
    stack.writeWorkspace(workspace([webhook('live', live.url), webhook('fresh', fresh.url)]));
    await stack.worker.stop();
    await stack.startWorker();
    const gateway = await stack.startGateway();
    const admin = async (method: 'GET' | 'POST', path: string, body?: Json) => {
      const res = await fetch(`${gateway.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Json };
    };

    const started = await admin('POST', '/admin/replays', { sourceId: SOURCE, destinationId: 'fresh', from, to, eventsPerSecond: 40 });
    expect(started.status).toBe(202);
    const jobPath = `/admin/jobs/replay/${String(started.body.workflowId).replace(/^ferry\/replay\//, '')}`;

    // Part-way, the destination hangs so that every lane waits on a request it holds open; then the
    // worker dies, as a crash would.
    await fresh.waitFor((r) => r.arrivals.length >= 60, 60_000, '60 replayed deliveries');
    fresh.hold();
    // The job is paced: it may be between rounds when the hold starts.
    await fresh.waitFor((r) => r.heldCount > 0, 30_000, 'a replayed request held open');
    await fresh.waitForQuiet(1_500, 30_000, 'the replay to wait on the hanging destination');
    const inFlight = fresh.heldCount;
    const mid = (await admin('GET', jobPath)).body as unknown as JobStatus;
    expect(mid).toMatchObject({ state: 'running', progress: { kind: 'replay', total: 200 } });
    expect(mid.progress!.done).toBeLessThan(200);
    await stack.worker.kill();
    await new Promise((r) => setTimeout(r, 300));
    fresh.release();
    await stack.startWorker();

    const done = await waitUntil(
      async () => {
        const job = (await admin('GET', jobPath)).body as unknown as JobStatus;
        return job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, what: 'the replay to complete after the crash' },
    );
    expect(done.progress).toMatchObject({ status: 'completed', total: 200, done: 200, counts: { delivered: 200, aborted: 0 } });
    const ids = new Set(fresh.deliveredBodies().map((b) => String(b.messageId)));
    expect(ids.size).toBe(200);
    expect(inFlight).toBeGreaterThan(0);
    expect(fresh.duplicateArrivals).toBeLessThanOrEqual(inFlight);
    const firstSeen = new Set<string>();
    const order = new Map<string, number[]>(users.map((u) => [u, []]));
    for (const body of fresh.deliveredBodies()) {
      if (firstSeen.has(String(body.messageId))) continue;
      firstSeen.add(String(body.messageId));
      order.get(String(body.userId))?.push((body.properties as { n: number }).n);
    }
    for (const [user, ns] of order) expect({ user, ns }).toEqual({ user, ns: Array.from({ length: 10 }, (_, i) => i) });
    // Live received each event once: the replay went only where it was asked to.
    expect(live.delivered.length).toBe(200);
  }, 300_000);
});
