/**
 * Destination credentials reach the wire and nothing Ferry stores: after a run in which every
 * destination refuses every event (HTTP 400, so every event is dead-lettered with its requests), no
 * configured secret is in any table of the pipeline's schema (dead_letters among them) or in any
 * workflow history of its task queue.
 */
import { temporal } from '@temporalio/proto';
import type { Receiver } from '../support/receiver';
import { perTest } from '../support/perTest';
import { TestPipeline, uniqueId, workspaceWith } from '../support/pipeline';

const SECRETS = {
  amplitude: 'amp-secret-key-7f3a9c',
  mixpanel: 'mp-secret-4be21d',
  mixpanelServiceAccount: 'mp-svc-secret-98ac0e',
  ga4: 'ga4-secret-0d5e6b',
  webhookHeader: 'Bearer hook-token-c41f27',
  webhookPassword: 'hook-password-5a8e3b',
} as const;

/** A secret as it may appear: itself, URL-encoded, or inside HTTP Basic credentials. */
function traces(secret: string): string[] {
  const basic = [`${secret}:`, `svc-user:${secret}`, `hook-user:${secret}`].map((text) => Buffer.from(text).toString('base64').replace(/=+$/, ''));
  return [secret, encodeURIComponent(secret), ...basic];
}

function found(text: string): string[] {
  return Object.entries(SECRETS).flatMap(([name, secret]) => (traces(secret).some((t) => text.includes(t)) ? [name] : []));
}

const retry = { initialBackoffMs: 200, maxBackoffMs: 1_000 };

describe('secrets', () => {
  const scope = perTest();

  it('are on the wire, and in no table and no workflow history after every destination aborts', async () => {
    const refuse = () => ({ status: 400, body: 'refused' });
    const [amplitude, mixpanel, mixpanelAccount, ga4, hook] = await Promise.all([
      scope.receiver(refuse),
      scope.receiver(refuse),
      scope.receiver(refuse),
      scope.receiver(refuse),
      scope.receiver(refuse),
    ]);
    const sourceId = uniqueId('src');
    const writeKey = uniqueId('wk');
    const hookUrl = new URL(`${hook.url}/hook`);
    hookUrl.username = 'hook-user';
    hookUrl.password = SECRETS.webhookPassword;
    const destinations = [
      { id: 'amplitude', destinationDefinition: { name: 'AMPLITUDE' }, config: { apiKey: SECRETS.amplitude, endpoint: `${amplitude.url}/2/httpapi`, usermapEndpoint: `${amplitude.url}/usermap`, groupIdentifyEndpoint: `${amplitude.url}/groupidentify` } },
      { id: 'mixpanel', destinationDefinition: { name: 'MIXPANEL' }, config: { token: 'mp-token', apiSecret: SECRETS.mixpanel, baseUrl: mixpanel.url } },
      {
        id: 'mixpanel-account',
        destinationDefinition: { name: 'MIXPANEL' },
        config: { token: 'mp-token', serviceAccountUserName: 'svc-user', serviceAccountSecret: SECRETS.mixpanelServiceAccount, projectId: '42', baseUrl: mixpanelAccount.url },
      },
      { id: 'ga4', destinationDefinition: { name: 'GA4' }, config: { apiSecret: SECRETS.ga4, measurementId: 'G-SECRET1', baseUrl: ga4.url } },
      { id: 'hook', destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: hookUrl.toString(), headers: [{ from: 'X-Api-Key', to: SECRETS.webhookHeader }] } },
    ].map((d) => ({ ...d, enabled: true, retry }));
    const pipeline = (scope.pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, destinations) }));

    const ids = { userId: 'u-secret', anonymousId: 'anon-secret' };
    const batch = [
      { type: 'track', messageId: 'sec-1', ...ids, event: 'Signed Up', properties: { plan: 'pro' } },
      { type: 'group', messageId: 'sec-2', ...ids, groupId: 'acme', traits: { name: 'Acme' } },
      { type: 'alias', messageId: 'sec-3', userId: 'u-secret', previousId: 'anon-secret' },
    ];
    expect((await pipeline.post('/v1/batch', { batch }, writeKey)).status).toBe(200);

    // Every destination dead-letters every event it takes: GA4 has no alias; the others take all three.
    const expected: Record<string, number> = { amplitude: 3, mixpanel: 3, 'mixpanel-account': 3, ga4: 2, hook: 3 };
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await pipeline.pool.query<{ destination_id: string; n: number }>('SELECT destination_id, count(*)::int AS n FROM dead_letters GROUP BY destination_id');
      const counts = Object.fromEntries(rows.map((r) => [r.destination_id, r.n]));
      if (Object.entries(expected).every(([id, n]) => counts[id] === n)) break;
      if (Date.now() > deadline) throw new Error(`timed out waiting for dead letters: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The credentials did reach each receiver, so the searches below look for strings that exist.
    const wire = (r: Receiver) => r.requests.map((q) => `${q.path} ${JSON.stringify(q.headers)} ${q.rawBody}`).join('\n');
    const sentText = [amplitude, mixpanel, mixpanelAccount, ga4, hook].map(wire).join('\n');
    expect(found(sentText).sort()).toEqual(Object.keys(SECRETS).sort());

    // The dead letters kept the requests, without credentials.
    const { rows: deadLetters } = await pipeline.pool.query<{ row: string }>('SELECT row_to_json(d)::text AS row FROM dead_letters d');
    expect(deadLetters.some((r) => r.row.includes('/2/httpapi'))).toBe(true);

    // Every table of the pipeline's schema, dead_letters included.
    const { rows: tables } = await pipeline.pool.query<{ name: string }>(
      "SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
      [pipeline.schema],
    );
    expect(tables.map((t) => t.name)).toContain(`${pipeline.schema}.dead_letters`);
    const stored: string[] = [];
    for (const { name } of tables) {
      const { rows } = await pipeline.pool.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM ${name} t`);
      stored.push(...rows.map((r) => r.row));
    }
    expect(found(stored.join('\n'))).toEqual([]);

    // Every workflow of the pipeline's task queue, every run: its history as the server stores it.
    const histories: Buffer[] = [];
    for await (const execution of pipeline.client.workflow.list({ query: `TaskQueue = "${pipeline.taskQueue}"` })) {
      const history = await pipeline.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      histories.push(Buffer.from(temporal.api.history.v1.History.encode(history).finish()));
    }
    expect(histories.length).toBeGreaterThan(0);
    const historyText = Buffer.concat(histories).toString('latin1');
    expect(historyText).toContain('u-secret');
    expect(found(historyText)).toEqual([]);
  });
});
