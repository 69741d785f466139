/**
 * User transformations through the real gateway, worker, Temporal and PostgreSQL: each destination
 * of one source has its own transformation, all fed the same events.
 */
import { Receiver } from '../support/receiver';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';

type Delivered = { messageId: string; event: string; userId: string; properties: Record<string, unknown> };

const CODE = {
  enrich: `
    export async function transformEvent(event, metadata) {
      const { sourceId, destinationId } = metadata(event);
      return { ...event, properties: { ...event.properties, tier: event.properties.n > 1 ? 'gold' : 'silver', via: sourceId + '>' + destinationId } };
    }`,
  drop: `export function transformEvent(event) { return null; }`,
  fanout: `
    export function transformEvent(event) {
      return ['a', 'b'].map((part) => ({ ...event, event: event.event + '/' + part }));
    }`,
  throws: `export function transformEvent(event) { throw new Error('cannot handle ' + event.event); }`,
};

function transformed(id: string, url: string, code: string): unknown {
  return { ...(webhookDestination(id, url) as object), transformations: [{ versionId: uniqueId(id), name: id, config: { code } }] };
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('user transformations in the pipeline', () => {
  let receiver: Receiver;
  let pipeline: TestPipeline;
  const sourceId = uniqueId('src');
  const writeKey = uniqueId('wk');
  const ids = { enrich: uniqueId('enrich'), drop: uniqueId('drop'), fanout: uniqueId('fanout'), throws: uniqueId('throws') };
  const at = (dest: keyof typeof ids) => receiver.deliveredBodies<Delivered>().filter((_, i) => receiver.delivered[i]!.path === `/${dest}`);

  beforeAll(async () => {
    receiver = await Receiver.start();
    const destinations = (Object.keys(ids) as Array<keyof typeof ids>).map((dest) => transformed(ids[dest], `${receiver.url}/${dest}`, CODE[dest]));
    pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, destinations) });
    for (const n of [1, 2]) {
      const res = await pipeline.post('/v1/track', { userId: 'tess', event: `e${n}`, properties: { n } }, writeKey);
      expect(res.status).toBe(200);
    }
    await receiver.waitFor((r) => r.delivered.length >= 6, 30_000, 'enriched and fanned-out deliveries');
  });
  afterAll(async () => {
    await pipeline?.close();
    await receiver?.close();
  });

  it('delivers events the transformation enriched, with metadata from RudderStack’s metadata()', () => {
    expect(at('enrich').map((b) => [b.event, b.properties])).toEqual([
      ['e1', { n: 1, tier: 'silver', via: `${sourceId}>${ids.enrich}` }],
      ['e2', { n: 2, tier: 'gold', via: `${sourceId}>${ids.enrich}` }],
    ]);
  });

  it('delivers both events of a fan-out, in order, after the previous event’s', () => {
    const fanned = at('fanout');
    expect(fanned.map((b) => b.event)).toEqual(['e1/a', 'e1/b', 'e2/a', 'e2/b']);
    expect(fanned.map((b) => b.userId)).toEqual(['tess', 'tess', 'tess', 'tess']);
  });

  it('records dropped events as filtered and delivers nothing for them', async () => {
    const workflowId = pipeline.workflowId(sourceId, 'tess');
    const lanes = await eventually(
      () => pipeline.lanes(workflowId),
      (ls) => ls.find((l) => l.destinationId === ids.drop)?.filtered === 2,
      'two filtered events',
    );
    expect(lanes.find((l) => l.destinationId === ids.drop)).toMatchObject({ depth: 0, delivered: 0, filtered: 2, aborted: 0 });
    expect(receiver.requests.filter((r) => r.path === '/drop')).toEqual([]);
    expect(await pipeline.deadLetters(ids.drop)).toEqual([]);
  });

  it('dead-letters events whose transformation throws, with the message, and delivers nothing', async () => {
    const rows = await eventually(() => pipeline.deadLetters(ids.throws), (r) => r.length === 2, 'two dead letters');
    expect(rows.map((row) => [row.stage, row.reason, (row.event as Delivered).event])).toEqual([
      ['transform', `user transformation "${ids.throws}" threw: cannot handle e1`, 'e1'],
      ['transform', `user transformation "${ids.throws}" threw: cannot handle e2`, 'e2'],
    ]);
    expect(rows[0]).toMatchObject({ source_id: sourceId, destination_id: ids.throws, workflow_id: pipeline.workflowId(sourceId, 'tess') });
    expect(receiver.requests.filter((r) => r.path === '/throws')).toEqual([]);
  });
});
