/**
 * The ingest log and its relay, through the real gateway, relay, worker, dev server and PostgreSQL:
 * what is stored, in which order it is relayed, and what Temporal never holds.
 */
import { Client as PgClient } from 'pg';
import { bucketOf } from '../../log/buckets';
import { LOG_WRITER_APPLICATION } from '../../log/writer';
import { waitUntil } from '../../processes/wait';
import { TEST_BUCKETS, TestPipeline, testInfra, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { perTest } from '../support/perTest';

type Json = Record<string, unknown>;

describe('the ingest log', () => {
  const scope = perTest();
  const { receiver } = scope;

  it('stores every event of a 200 with its routing, and answers only after the commit', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]), relay: false });
    const res = await scope.pipeline.post('/v1/batch', { batch: [{ type: 'track', userId: 'ann', event: 'A', messageId: 'log-a' }, { type: 'identify', anonymousId: 'anon-1', messageId: 'log-b' }] }, writeKey);
    expect(res.status).toBe(200);
    // No relay runs: the rows are there the moment the 200 is, and nothing was delivered.
    const rows = await scope.pipeline.logRows();
    expect(rows.map((r) => [r.source_id, r.user_key, r.message_id, r.bucket])).toEqual([
      [sourceId, 'user:ann', 'log-a', bucketOf(sourceId, 'user:ann', TEST_BUCKETS)],
      [sourceId, 'anon:anon-1', 'log-b', bucketOf(sourceId, 'anon:anon-1', TEST_BUCKETS)],
    ]);
    expect((rows[0]!.event as Json).event).toBe('A');
    expect(hook.requests).toEqual([]);
    // A relay that starts later forwards what is waiting.
    await scope.pipeline.startRelay();
    await hook.waitFor((r) => r.delivered.length === 2, 30_000, 'the stored events');
  });

  it('refuses text the log cannot hold with a 400 naming it, and keeps storing the requests beside it', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const pipeline = scope.pipeline;
    // PostgreSQL's json functions refuse both; in a shared group commit either one failed every
    // request of that transaction with a 503, which clients retry, so it failed them again.
    const bad = [
      { body: { userId: 'ivy', event: 'E', messageId: 'nul-1', properties: { note: 'a\u0000b' } }, at: 'properties.note' },
      { body: { userId: 'ivy', event: 'E', messageId: 'sur-1', traits: { ['k\ud800']: 1 } }, at: 'traits."k\\ud800"' },
    ];
    const answers = await Promise.all([
      ...bad.map(({ body }) => pipeline.post('/v1/track', body, writeKey)),
      ...Array.from({ length: 10 }, (_, n) => pipeline.post('/v1/track', { userId: `ok-${n}`, event: 'E', messageId: `ok-${n}` }, writeKey)),
    ]);
    for (const [i, { at }] of bad.entries()) {
      expect(answers[i]!.status).toBe(400);
      expect(await answers[i]!.text()).toContain(at);
    }
    expect(answers.slice(bad.length).map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await pipeline.logRows()).map((r) => r.message_id).sort()).toEqual(Array.from({ length: 10 }, (_, n) => `ok-${n}`).sort());
    await hook.waitFor((r) => r.delivered.length === 10, 30_000, 'the ten good events');
  });

  it('never skips a row whose transaction took its sequence number first but commits last', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    const bucket = bucketOf(sourceId, 'user:kim', TEST_BUCKETS);
    // A log writer that takes its sequence number and then stalls before committing.
    const slow = new PgClient({ connectionString: testInfra().databaseUrl, options: `-c search_path=${scope.pipeline.schema}`, application_name: LOG_WRITER_APPLICATION });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      const event = { type: 'track', userId: 'kim', event: 'First', messageId: 'held-1', properties: { n: 1 }, receivedAt: new Date().toISOString(), timestamp: new Date().toISOString(), rudderId: 'r' };
      const held = await slow.query<{ seq: string }>(
        `INSERT INTO event_log (source_id, user_key, bucket, message_id, received_at, type, event_name, destinations, event)
         VALUES ($1, 'user:kim', $2, 'held-1', now(), 'track', 'First', '["hook"]', $3) RETURNING seq`,
        [sourceId, bucket, JSON.stringify(event)],
      );
      // A later request commits while the first transaction is still open.
      expect((await scope.pipeline.post('/v1/track', { userId: 'kim', event: 'Second', messageId: 'later-2', properties: { n: 2 } }, writeKey)).status).toBe(200);
      const [later] = await scope.pipeline.logRows("message_id = 'later-2'");
      expect(Number(held.rows[0]!.seq)).toBeLessThan(later!.seq as number);
      // The relay does not read past the open transaction: nothing is delivered, and nothing is skipped.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(hook.requests).toEqual([]);
      await slow.query('COMMIT');
    } finally {
      await slow.end();
    }
    await hook.waitFor((r) => r.delivered.length === 2, 30_000, 'both events');
    expect(hook.deliveredBodies().map((b) => b.messageId)).toEqual(['held-1', 'later-2']);
  });

  it('keeps event properties and configured secrets out of workflow history, for every destination', async () => {
    const receiversByKind = { hook: await receiver(), amplitude: await receiver(), mixpanel: await receiver(), ga4: await receiver() };
    const marker = `marker-${uniqueId('p')}`;
    const secrets = { amplitude: `amp-${uniqueId('secret')}`, mixpanel: `mp-${uniqueId('secret')}`, ga4: `ga-${uniqueId('secret')}`, hook: `hook-${uniqueId('secret')}`, pg: `pg-${uniqueId('pw')}` };
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    const retry = { initialBackoffMs: 200, maxBackoffMs: 500 };
    const infra = new URL(testInfra().databaseUrl);
    scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [
        { ...(webhookDestination('hook', receiversByKind.hook.url) as Json), config: { webhookUrl: receiversByKind.hook.url, headers: [{ from: 'X-Token', to: secrets.hook }] } },
        { id: 'amplitude', enabled: true, destinationDefinition: { name: 'AMPLITUDE' }, config: { apiKey: secrets.amplitude, endpoint: `${receiversByKind.amplitude.url}/2/httpapi`, usermapEndpoint: `${receiversByKind.amplitude.url}/usermap`, groupIdentifyEndpoint: `${receiversByKind.amplitude.url}/groupidentify` }, retry },
        { id: 'mixpanel', enabled: true, destinationDefinition: { name: 'MIXPANEL' }, config: { token: secrets.mixpanel, apiSecret: secrets.mixpanel, baseUrl: receiversByKind.mixpanel.url }, retry },
        { id: 'ga4', enabled: true, destinationDefinition: { name: 'GA4' }, config: { apiSecret: secrets.ga4, measurementId: 'G-TEST123', baseUrl: receiversByKind.ga4.url }, retry },
        {
          id: 'warehouse',
          enabled: true,
          destinationDefinition: { name: 'POSTGRES' },
          // A database that does not exist: the load fails and is retried, and its error, which goes
          // into history, names no secret.
          config: { host: infra.hostname, port: infra.port, database: `missing_${Date.now().toString(36)}`, user: 'ferry', password: secrets.pg, namespace: `hist_${Date.now().toString(36)}` },
          retry,
        },
      ]),
    });
    const events = [
      { type: 'identify', userId: 'lee', traits: { secretTrait: marker } },
      { type: 'track', userId: 'lee', event: 'Bought', properties: { secretProperty: marker, revenue: 3 } },
      { type: 'page', userId: 'lee', name: 'Home', properties: { url: `https://shop.example/${marker}` } },
      { type: 'group', userId: 'lee', groupId: 'g1', traits: { name: marker } },
    ];
    for (const event of events) expect((await scope.pipeline.post('/v1/batch', { batch: [event] }, writeKey)).status).toBe(200);
    await waitUntil(() => Object.values(receiversByKind).every((r) => r.requests.length >= 2), { timeoutMs: 60_000, what: 'requests at every receiver' });
    const workflowId = scope.pipeline.workflowId(sourceId, 'lee');
    // The warehouse keeps failing: wait for a failure to be in history.
    let lanes: unknown;
    await waitUntil(
      async () => {
        const now = await scope.pipeline!.lanes(workflowId);
        lanes = now;
        return now.some((l) => l.destinationId === 'warehouse' && l.attempts > 0);
      },
      { timeoutMs: 60_000, what: 'a failed warehouse load' },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; lanes: ${JSON.stringify(lanes)}`);
    });

    const history = JSON.stringify(await scope.pipeline.client.workflow.getHandle(workflowId).fetchHistory(), (_, value: unknown) =>
      value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value,
    );
    expect(history).toContain(workflowId);
    expect(history.includes(marker)).toBe(false);
    for (const secret of Object.values(secrets)) expect({ secret, inHistory: history.includes(secret) }).toEqual({ secret, inHistory: false });
    // The events are in the log, where the delivery step read them from.
    const logged = await scope.pipeline.logRows('user_key = $1', ['user:lee']);
    expect(JSON.stringify(logged.map((r) => r.event))).toContain(marker);
  });

  it('keeps accepting events while Temporal is unreachable, and forwards them once it is back', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]), relay: false, worker: false });
    // Without a relay or worker nothing reaches Temporal; the gateway answers from the log alone.
    for (let n = 1; n <= 5; n++) expect((await scope.pipeline.post('/v1/track', { userId: 'max', event: `e${n}`, properties: { n } }, writeKey)).status).toBe(200);
    const health = (await (await fetch(`${scope.pipeline.gatewayUrl}/health`)).json()) as Json;
    expect(health).toMatchObject({ status: 'ok', components: { database: { ok: true }, relay: { ok: false, relays: 0 } } });
    await scope.pipeline.startWorker();
    await scope.pipeline.startRelay();
    await hook.waitFor((r) => r.delivered.length === 5, 30_000, 'the backlog');
    expect(hook.deliveredBodies().map((b) => (b.properties as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
  });

  it('is not held up by other long transactions on the database, only by log writers', async () => {
    const hook = await receiver();
    const [sourceId, writeKey] = [uniqueId('src'), uniqueId('wk')];
    scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', hook.url)]) });
    // Another application's transaction that holds an xid for as long as the test runs.
    const other = new PgClient({ connectionString: testInfra().databaseUrl, application_name: 'someone-else' });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('CREATE TEMP TABLE holding_an_xid (n int)');
      expect((await scope.pipeline.post('/v1/track', { userId: 'ned', event: 'Through', messageId: 'not-held-up' }, writeKey)).status).toBe(200);
      await hook.waitFor((r) => r.delivered.length === 1, 15_000, 'the event, past the other transaction');
    } finally {
      await other.query('ROLLBACK');
      await other.end();
    }
  });
});
