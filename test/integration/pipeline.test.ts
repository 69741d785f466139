import { Receiver } from '../support/receiver';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';

describe('gateway to webhook', () => {
  let receiver: Receiver;
  let pipeline: TestPipeline;
  const sourceId = uniqueId('src');
  const writeKey = uniqueId('wk');

  beforeAll(async () => {
    receiver = await Receiver.start();
    pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', `${receiver.url}/in`)]) });
  });
  afterAll(async () => {
    await pipeline?.close();
    await receiver?.close();
  });

  it('delivers a tracked event to the webhook with the enrichment and an idempotency key', async () => {
    const res = await pipeline.post('/v1/track', { userId: 'alice', event: 'Signed Up', properties: { plan: 'pro' } }, writeKey);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('OK');
    await receiver.waitFor((r) => r.delivered.length === 1, 30_000, 'one delivery');
    const [delivery] = receiver.delivered;
    expect(delivery!.path).toBe('/in');
    expect(delivery!.headers['idempotency-key']).toMatch(/^[0-9a-f]{32}$/);
    expect(delivery!.body).toMatchObject({
      type: 'track',
      userId: 'alice',
      event: 'Signed Up',
      properties: { plan: 'pro' },
      messageId: expect.any(String),
      receivedAt: expect.any(String),
      rudderId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('delivers a batch for several users, each user in order', async () => {
    const batch = [];
    for (let i = 0; i < 30; i++) batch.push({ type: 'track', userId: `u${i % 3}`, event: `e${i}`, properties: { i } });
    const res = await pipeline.post('/v1/batch', { batch }, writeKey);
    expect(res.status).toBe(200);
    await receiver.waitFor((r) => r.deliveredBodies().filter((b) => String(b.event).startsWith('e')).length === 30, 30_000, '30 deliveries');
    for (const user of ['u0', 'u1', 'u2']) {
      const seen = receiver.deliveredBodies<{ userId: string; properties: { i: number } }>().filter((b) => b.userId === user).map((b) => b.properties.i);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen).toHaveLength(10);
    }
  });
});
