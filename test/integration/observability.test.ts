/**
 * Metrics and logs of a real pipeline: events posted through a gateway and delivered by the worker
 * move the counters /metrics serves by exactly what happened, and the JSON logs tie deliveries to
 * workflows and messageIds without ever holding a write key, a token or an event's content.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../config/logger';
import { createGatewayMetrics } from '../../metrics/gateway';
import { startMetricsServer } from '../../metrics/server';
import { createWorkerMetrics } from '../../metrics/worker';
import { perTest } from '../support/perTest';
import { scrape, valueOf, type Sample } from '../support/metricsText';
import { TEST_BUCKETS, TestPipeline, testInfra, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { startComponent, writeWorkspaceFile } from '../support/processes';

/** Collects every JSON line a logger writes. */
class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    done();
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

async function until(read: () => Promise<Sample[]>, done: (samples: Sample[]) => boolean, what: string, timeoutMs = 30_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await read();
    if (done(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A port free right now, for a listener whose address must be given up front. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('metrics and logs of a running pipeline', () => {
  const scope = perTest();

  it('counts what was posted and delivered, and logs ids but no secrets or payloads', async () => {
    const sourceId = uniqueId('src');
    const writeKey = uniqueId('write-key-secret');
    const adminToken = uniqueId('admin-token-secret');
    const secretValue = uniqueId('payload-secret');
    const hook = await scope.receiver();
    // Fails each event's first attempt, quoting the event back, then takes it.
    const flaky = await scope.receiver(({ body, attempt }) => (attempt === 1 ? { status: 500, body: JSON.stringify(body) } : { status: 200 }));
    // Refuses every event for good, quoting it back: each ends in the dead-letter table.
    const refusing = await scope.receiver(({ body }) => ({ status: 400, body: JSON.stringify(body) }));
    const logs = new LogCapture();
    const logger = createLogger('test', 'info', logs);
    const workerMetrics = createWorkerMetrics();
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [
        webhookDestination('hook', `${hook.url}/in`),
        webhookDestination('flaky', `${flaky.url}/in`),
        webhookDestination('refusing', `${refusing.url}/in`),
      ]),
      metrics: workerMetrics,
      logger,
    });
    const pipeline = scope.pipeline;
    const workerServer = await startMetricsServer({ registry: workerMetrics.registry, port: 0 });
    scope.defer(() => workerServer.close());
    const gatewayMetrics = createGatewayMetrics({ destinationIds: pipeline.workspace.destinationIds() });
    const gateway = await pipeline.startGateway({ metrics: gatewayMetrics, sink: pipeline.logWriter({ metrics: gatewayMetrics.log }), logger, admin: { token: adminToken, ops: pipeline.ops() } });
    scope.defer(() => gateway.close());
    const post = (path: string, body: unknown, key = writeKey) =>
      fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
        body: JSON.stringify(body),
      });

    const singles = ['ann', 'bob', 'cid'];
    for (const userId of singles) expect((await post('/v1/track', { userId, event: 'Viewed', properties: { secret: secretValue } })).status).toBe(200);
    const batch = ['dee', 'eve', 'fay'].map((userId) => ({ type: 'identify', userId, traits: { note: secretValue } }));
    expect((await post('/v1/batch', { batch })).status).toBe(200);
    expect((await post('/v1/track', { userId: 'ann', event: 'Refused' }, uniqueId('wrong-key'))).status).toBe(401);
    expect((await fetch(`${gateway.url}/admin/status`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
    const posted = singles.length + batch.length;

    await hook.waitFor((r) => r.delivered.length === posted, 60_000, 'every event at hook');
    await flaky.waitFor((r) => r.delivered.length === posted, 60_000, 'every event at flaky, after one failure each');
    await refusing.waitFor((r) => r.requests.length === posted, 60_000, 'every event refused');

    const gatewaySamples = await scrape(`${gateway.url}/metrics`);
    expect(valueOf(gatewaySamples, 'ferry_events_accepted_total', { source: sourceId })).toBe(posted);
    expect(valueOf(gatewaySamples, 'ferry_http_requests_total', { route: '/v1/track', method: 'POST', status: '200' })).toBe(singles.length);
    expect(valueOf(gatewaySamples, 'ferry_http_requests_total', { route: '/v1/batch', method: 'POST', status: '200' })).toBe(1);
    expect(valueOf(gatewaySamples, 'ferry_http_requests_total', { route: '/v1/track', method: 'POST', status: '401' })).toBe(1);
    expect(valueOf(gatewaySamples, 'ferry_http_requests_total', { route: '/admin/status', method: 'GET', status: '200' })).toBe(1);
    expect(valueOf(gatewaySamples, 'ferry_ingest_duration_seconds_count', { route: '/v1/track' })).toBe(singles.length + 1);
    // Every accepted row went through a group commit, each of which is timed.
    expect(valueOf(gatewaySamples, 'ferry_log_write_batch_rows_sum')).toBe(posted);
    expect(valueOf(gatewaySamples, 'ferry_log_commit_duration_seconds_count', { outcome: 'ok' })).toBe(valueOf(gatewaySamples, 'ferry_log_write_batch_rows_count'));

    const workerUrl = `http://127.0.0.1:${workerServer.port}/metrics`;
    // The counters move when each step returns, a moment after the receiver answered.
    const deliveries = (s: Sample[], destination: string, outcome: string) => valueOf(s, 'ferry_deliveries_total', { destination, outcome });
    const worker = await until(
      () => scrape(workerUrl),
      (s) => deliveries(s, 'hook', 'delivered') === hook.delivered.length && deliveries(s, 'flaky', 'delivered') === flaky.delivered.length && deliveries(s, 'refusing', 'aborted') === posted,
      'the delivery counters to match the receivers',
    );
    expect(deliveries(worker, 'hook', 'delivered')).toBe(posted);
    expect(deliveries(worker, 'flaky', 'retry')).toBe(flaky.requests.filter((r) => r.status === 500).length);
    expect(deliveries(worker, 'flaky', 'retry')).toBe(posted);
    expect(valueOf(worker, 'ferry_dead_letters_total', { destination: 'refusing', stage: 'deliver' })).toBe((await pipeline.deadLetters('refusing')).length);
    expect(valueOf(worker, 'ferry_delivery_latency_seconds_count', { destination: 'hook' })).toBe(posted);
    expect(valueOf(worker, 'ferry_relay_signal_events_sum')).toBe(posted);
    expect(valueOf(worker, 'ferry_lane_backlog_events')).toBe(0);

    // Correlation: the refused events' log lines name their workflow and messageId.
    const refusedIds = new Set(refusing.requests.map((r) => (r.body as { messageId: string }).messageId));
    const aborted = logs.records().filter((r) => r.msg === 'event aborted; written to dead letters');
    expect(new Set(aborted.map((r) => r.messageId))).toEqual(refusedIds);
    for (const record of aborted) expect(record.workflowId).toEqual(expect.stringContaining(sourceId));
    const retried = logs.records().filter((r) => r.msg === 'delivery failed; will retry');
    expect(retried).toHaveLength(posted);
    expect(retried.every((r) => typeof r.workflowId === 'string' && typeof r.messageId === 'string')).toBe(true);

    // Secrets and payloads: the write keys (as sent and as encoded), the admin token, the property values.
    const text = logs.lines.join('\n');
    for (const secret of [writeKey, Buffer.from(`${writeKey}:`).toString('base64'), adminToken, secretValue]) expect({ secret, logged: text.includes(secret) }).toEqual({ secret, logged: false });
  }, 120_000);

  it('the worker process serves its metrics and the Temporal SDK metrics where its env says', async () => {
    const sourceId = uniqueId('src');
    const writeKey = uniqueId('wk');
    const hook = await scope.receiver();
    const workspace = workspaceWith(sourceId, writeKey, [webhookDestination('hook', `${hook.url}/in`)]);
    // The worker process runs the relay and the deliveries; this process only runs the gateway.
    scope.pipeline = await TestPipeline.start({ workspace, worker: false, relay: false });
    const pipeline = scope.pipeline;
    const [metricsPort, temporalMetricsPort] = [await freePort(), await freePort()];
    const worker = await startComponent(
      'workers/worker.js',
      {
        TEMPORAL_ADDRESS: testInfra().temporalAddress,
        DATABASE_URL: pipeline.databaseUrl,
        FERRY_LOG_BUCKETS: String(TEST_BUCKETS),
        FERRY_TASK_QUEUE: pipeline.taskQueue,
        FERRY_WORKSPACE_CONFIG: writeWorkspaceFile(workspace),
        FERRY_WORKER_METRICS_PORT: String(metricsPort),
        FERRY_TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${temporalMetricsPort}`,
        LOG_LEVEL: 'info',
      },
      'worker running',
    );
    scope.defer(() => worker.stop());

    for (const userId of ['ann', 'bob']) expect((await pipeline.post('/v1/track', { userId, event: 'Viewed' }, writeKey)).status).toBe(200);
    await hook.waitFor((r) => r.delivered.length === 2, 60_000, 'both events');
    const samples = await until(
      () => scrape(`http://127.0.0.1:${metricsPort}/metrics`),
      (s) => valueOf(s, 'ferry_deliveries_total', { destination: 'hook', outcome: 'delivered' }) === 2,
      "the worker process's delivery counter",
    );
    expect(valueOf(samples, 'ferry_relay_signal_events_sum')).toBe(2);
    expect(valueOf(samples, 'ferry_relay_owned_buckets')).toBe(TEST_BUCKETS);
    // Temporal's core exports its own, with the prefix the runtime was given.
    const sdk = await scrape(`http://127.0.0.1:${temporalMetricsPort}/metrics`);
    expect(sdk.some((s) => s.name.startsWith('temporal_worker_task_slots'))).toBe(true);
    expect(sdk.every((s) => s.name.startsWith('temporal_'))).toBe(true);
    // The worker logs where it serves them.
    expect(worker.output()).toContain(`"metricsPort":${metricsPort}`);
  }, 120_000);
});
