/**
 * Crash recovery with the real worker process (dist/workers/worker.js) and a dev server restart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTemporalCli } from '../../temporal/binary';
import { type DevServer, startDevServer } from '../../temporal/devServer';
import { withFreePorts } from '../../processes/ports';
import { TEST_BUCKETS, TestPipeline, testInfra, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import type { NodeChild } from '../../processes/children';
import { startComponent, writeWorkspaceFile } from '../support/processes';
import { Receiver } from '../support/receiver';

type Tracked = { userId: string; messageId: string; properties: { n: number } };

/** Per user: the delivered messageIds in arrival order. */
function deliveriesByUser(receiver: Receiver): Map<string, Tracked[]> {
  const out = new Map<string, Tracked[]>();
  for (const body of receiver.deliveredBodies<Tracked>()) {
    const list = out.get(body.userId) ?? [];
    list.push(body);
    out.set(body.userId, list);
  }
  return out;
}

describe('crash recovery', () => {
  let receiver: Receiver;
  let pipeline: TestPipeline | undefined;
  let worker: NodeChild | undefined;

  afterEach(async () => {
    if (worker) await worker.kill();
    await pipeline?.close();
    await receiver?.close();
  });

  it('kill -9 of the worker mid-burst across 50 users loses nothing and keeps each user in order', async () => {
    receiver = await Receiver.start(() => ({ status: 200, delayMs: 30 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    const workspace = workspaceWith(sourceId, writeKey, [webhookDestination('hook', receiver.url)]);
    // The worker process runs the relay and the deliveries; this process only runs the gateway.
    pipeline = await TestPipeline.start({ workspace, worker: false, relay: false });
    const infra = testInfra();
    const workerEnv = {
      TEMPORAL_ADDRESS: infra.temporalAddress,
      DATABASE_URL: pipeline.databaseUrl,
      FERRY_LOG_BUCKETS: String(TEST_BUCKETS),
      FERRY_TASK_QUEUE: pipeline.taskQueue,
      FERRY_WORKSPACE_CONFIG: writeWorkspaceFile(workspace),
      // A delivery cut off by the crash is noticed after this long, then retried.
      FERRY_DELIVER_TIMEOUT_MS: '3000',
      FERRY_FAILURE_BACKOFF_INITIAL_MS: '200',
      FERRY_FAILURE_BACKOFF_MAX_MS: '1000',
      LOG_LEVEL: 'info',
    };
    worker = await startComponent('workers/worker.js', workerEnv, 'worker running');

    const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    const rounds = 10;
    for (let n = 1; n <= rounds; n++) {
      const res = await pipeline.post('/v1/batch', { batch: users.map((userId) => ({ type: 'track', userId, event: 'Step', properties: { n } })) }, writeKey);
      expect(res.status).toBe(200);
    }

    await receiver.waitFor((r) => r.delivered.length >= 100, 60_000, '100 deliveries before the crash');
    // Requests the destination had received and not yet answered when the worker died.
    const openAtCrash = receiver.arrivals.length - receiver.requests.length;
    await worker.kill();
    const deliveredAtCrash = receiver.delivered.length;
    expect(deliveredAtCrash).toBeLessThan(users.length * rounds);

    worker = await startComponent('workers/worker.js', workerEnv, 'worker running');
    const unique = () => new Set(receiver.deliveredBodies<Tracked>().map((b) => b.messageId)).size;
    await receiver.waitFor(() => unique() === users.length * rounds, 120_000, 'every event after the restart');

    const byUser = deliveriesByUser(receiver);
    let duplicates = 0;
    for (const userId of users) {
      const got = byUser.get(userId) ?? [];
      const firstSeen: number[] = [];
      const seen = new Set<string>();
      for (const body of got) {
        if (seen.has(body.messageId)) {
          duplicates += 1;
          continue;
        }
        seen.add(body.messageId);
        firstSeen.push(body.properties.n);
      }
      expect({ userId, order: firstSeen }).toEqual({ userId, order: Array.from({ length: rounds }, (_, i) => i + 1) });
    }
    // Only what was in flight at the crash can arrive twice: the requests open at the destination,
    // plus, per lane, at most the one item whose answer had arrived but was not recorded yet.
    expect(openAtCrash).toBeGreaterThan(0);
    expect(duplicates).toBeLessThanOrEqual(users.length);
    expect(receiver.duplicatesWithNewKey).toBe(0);
  });
});

describe('dev server restart', () => {
  let server: DevServer | undefined;
  let pipeline: TestPipeline | undefined;
  let receiver: Receiver | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-restart-'));

  afterAll(async () => {
    await pipeline?.close();
    await server?.stop();
    await receiver?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('delivers events that were pending when the dev server restarted on its SQLite file', async () => {
    const binary = resolveTemporalCli();
    expect(binary).toBeDefined();
    let options: Parameters<typeof startDevServer>[0] = { binary, dbFile: path.join(dir, 'temporal.db') };
    server = await withFreePorts(2, ([port, uiPort]) => {
      options = { ...options, port, uiPort };
      return startDevServer(options);
    });

    let healthy = false;
    receiver = await Receiver.start(() => (healthy ? { status: 200 } : { status: 503 }));
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', receiver.url, { initialBackoffMs: 300, maxBackoffMs: 500 })]),
      temporalAddress: server.address,
    });
    for (let n = 1; n <= 5; n++) {
      for (const userId of ['a', 'b', 'c']) {
        expect((await pipeline.post('/v1/track', { userId, event: 'Step', properties: { n } }, writeKey)).status).toBe(200);
      }
    }
    await receiver.waitFor((r) => r.requests.length >= 3, 30_000, 'failing attempts before the restart');

    await server.stop();
    server = await startDevServer(options);
    healthy = true;

    await receiver.waitFor((r) => r.delivered.length >= 15, 90_000, 'all 15 events after the restart');
    const byUser = deliveriesByUser(receiver);
    for (const userId of ['a', 'b', 'c']) {
      expect((byUser.get(userId) ?? []).map((b) => b.properties.n)).toEqual([1, 2, 3, 4, 5]);
    }
  });
});
