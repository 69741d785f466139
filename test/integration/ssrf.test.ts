/**
 * The SSRF guard in a running pipeline: a webhook that redirects to the cloud-metadata address is
 * refused before connecting (the guard checks each hop), not retried, and dead-lettered with the
 * reason. The redirect target is never connected to: the guard refuses it first.
 */
import { perTest } from '../support/perTest';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';

describe('SSRF guard', () => {
  const scope = perTest();

  it('dead-letters an event whose webhook redirects to the metadata address, without retrying', async () => {
    const hook = await scope.receiver(({ path }) =>
      path.startsWith('/moved') ? { status: 307, headers: { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' } } : { status: 200 },
    );
    const sourceId = uniqueId('src');
    const writeKey = uniqueId('wk');
    const pipeline = (scope.pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', `${hook.url}/moved`), webhookDestination('fine', `${hook.url}/fine`)]),
    }));
    expect((await pipeline.post('/v1/track', { userId: 'u-ssrf', messageId: 'ssrf-1', event: 'Signed Up' }, writeKey)).status).toBe(200);

    const deadline = Date.now() + 60_000;
    let rows: Array<Record<string, unknown>> = [];
    while (rows.length === 0) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the dead letter');
      await new Promise((r) => setTimeout(r, 200));
      rows = await pipeline.deadLetters('hook');
    }
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ message_id: 'ssrf-1', stage: 'deliver', attempts: 1 });
    expect(rows[0]!.reason).toBe(
      'not sent: 169.254.169.254 is a denied destination address: link-local (cloud metadata); see FERRY_DESTINATION_ALLOW',
    );
    // One attempt, answered by the redirect; the other destination of the same event was delivered.
    await hook.waitFor((r) => r.requests.some((q) => q.path === '/fine'), 30_000, 'the other destination');
    expect(hook.requests.filter((q) => q.path.startsWith('/moved'))).toHaveLength(1);
  });
});
