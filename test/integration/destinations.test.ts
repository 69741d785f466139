/**
 * The vendor destinations through the real gateway, worker, dev server and PostgreSQL: what Amplitude,
 * Mixpanel and GA4 receive (paths, bodies, order per user), what is filtered and what is aborted.
 * Every vendor endpoint points at a Receiver on 127.0.0.1.
 */
import { isDeepStrictEqual } from 'node:util';
import type { LaneSnapshot } from '../../workflows/state';
import { Receiver, type ReceivedRequest } from '../support/receiver';
import { TestPipeline, uniqueId, workspaceWith } from '../support/pipeline';

type Json = Record<string, unknown>;
interface Seen {
  readonly user: string;
  readonly label: string;
}

const retry = { initialBackoffMs: 200, maxBackoffMs: 1_000 };

/** Each user's session, in the order the SDK sent it. */
function session(user: string, anon: string): Json[] {
  const ids = { userId: user, anonymousId: anon };
  const messageId = (n: number) => `${user}-${n}`;
  return [
    { type: 'identify', messageId: messageId(0), ...ids, traits: { email: `${user}@example.com`, plan: 'pro' } },
    { type: 'track', messageId: messageId(1), ...ids, event: 'Signed Up', properties: { plan: 'pro' } },
    { type: 'page', messageId: messageId(2), ...ids, name: 'Pricing', properties: { url: 'https://shop.example/pricing', title: 'Pricing' } },
    { type: 'track', messageId: messageId(3), ...ids, event: 'Heartbeat' },
    { type: 'group', messageId: messageId(4), ...ids, groupId: `acme-${user}`, traits: { name: 'Acme' } },
    { type: 'screen', messageId: messageId(5), ...ids, name: 'Home' },
    {
      type: 'track',
      messageId: messageId(6),
      ...ids,
      event: 'Order Completed',
      properties: { order_id: `ord-${user}`, revenue: 20, currency: 'EUR', products: [{ product_id: 'sku-1', name: 'Mug', price: 20, quantity: 1 }] },
    },
    { type: 'alias', messageId: messageId(7), userId: user, previousId: anon },
  ];
}

/** Who an Amplitude request is about, and what it is. */
function amplitudeSeen(request: ReceivedRequest): Seen {
  if (request.path.startsWith('/usermap?')) {
    const url = new URL(request.path, 'http://receiver');
    const [mapping] = JSON.parse(url.searchParams.get('mapping') ?? '[]') as Array<{ user_id: string; global_user_id: string }>;
    return { user: mapping!.global_user_id, label: `usermap:${mapping!.user_id}` };
  }
  const events = (request.body as { events: Array<{ event_type: string; user_id: string }> }).events;
  return { user: events[0]!.user_id, label: events.map((e) => e.event_type).join('+') };
}

function mixpanelSeen(request: ReceivedRequest): Seen {
  const [record] = request.body as Json[];
  if (request.path.startsWith('/import?')) {
    const { event, properties } = record as { event: string; properties: { distinct_id?: string; $distinct_ids?: string[] } };
    const user = properties.distinct_id ?? properties.$distinct_ids!.find((id) => !id.startsWith('anon-'))!;
    return { user, label: `import:${event}` };
  }
  if (request.path.startsWith('/engage?')) {
    const operation = Object.keys(record!).find((key) => key === '$set' || key === '$union');
    return { user: String(record!.$distinct_id), label: `engage:${operation}` };
  }
  return { user: String(record!.$group_id).replace(/^acme-/, ''), label: `${request.path.split('?')[0]}:${Object.keys(record!).includes('$set') ? '$set' : '?'}` };
}

function ga4Seen(request: ReceivedRequest): Seen {
  const body = request.body as { user_id: string; events: Array<{ name: string }> };
  return { user: body.user_id, label: body.events.map((e) => e.name).join('+') };
}

function labelsFor(receiver: Receiver, seen: (r: ReceivedRequest) => Seen, user: string): string[] {
  return receiver.delivered.map(seen).filter((s) => s.user === user).map((s) => s.label);
}

describe('gateway to Amplitude, Mixpanel and GA4', () => {
  const sourceId = uniqueId('src');
  const writeKey = uniqueId('wk');
  const dest = { amplitude: uniqueId('amplitude'), mixpanel: uniqueId('mixpanel'), ga4: uniqueId('ga4') };
  const tag = Date.now().toString(36);
  const users = [0, 1, 2].map((i) => ({ user: `${tag}-u${i}`, anon: `anon-${tag}-${i}` }));
  let amplitude: Receiver;
  let mixpanel: Receiver;
  let ga4: Receiver;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    [amplitude, mixpanel, ga4] = await Promise.all([Receiver.start(), Receiver.start(), Receiver.start()]);
    pipeline = await TestPipeline.start({
      workspace: workspaceWith(sourceId, writeKey, [
        {
          id: dest.amplitude,
          enabled: true,
          destinationDefinition: { name: 'AMPLITUDE' },
          config: {
            apiKey: 'amp-key',
            endpoint: `${amplitude.url}/2/httpapi`,
            usermapEndpoint: `${amplitude.url}/usermap`,
            eventFilteringOption: 'blacklistedEvents',
            blacklistedEvents: [{ eventName: 'Heartbeat' }],
          },
          retry,
        },
        {
          id: dest.mixpanel,
          enabled: true,
          destinationDefinition: { name: 'MIXPANEL' },
          config: { token: 'mp-token', apiSecret: 'mp-secret', baseUrl: mixpanel.url },
          retry,
        },
        {
          id: dest.ga4,
          enabled: true,
          destinationDefinition: { name: 'GA4' },
          config: { apiSecret: 'ga-secret', measurementId: 'G-TEST123', baseUrl: ga4.url },
          retry,
        },
      ]),
    });
  });
  afterAll(async () => {
    await pipeline?.close();
    await Promise.all([amplitude?.close(), mixpanel?.close(), ga4?.close()]);
  });

  it('delivers each user\'s session to every vendor in order, filtering and aborting per destination', async () => {
    const sessions = users.map(({ user, anon }) => session(user, anon));
    // The first user also sends an event whose GA4 name is reserved.
    sessions[0]!.push({ type: 'track', messageId: `${users[0]!.user}-8`, userId: users[0]!.user, anonymousId: users[0]!.anon, event: 'Session Start' });
    // Users interleaved, as one SDK batch from a server would carry them.
    const batch = Array.from({ length: 9 }, (_, step) => sessions.map((s) => s[step])).flat().filter((e) => e !== undefined);
    const res = await pipeline.post('/v1/batch', { batch }, writeKey);
    expect(res.status).toBe(200);

    // Every lane of every user drained: each event delivered, filtered or aborted.
    const lanesOf = async (user: string) => {
      const lanes = await pipeline.lanes(pipeline.workflowId(sourceId, user));
      return Object.fromEntries(lanes.map((l: LaneSnapshot) => [l.destinationId, { depth: l.depth, delivered: l.delivered, filtered: l.filtered, aborted: l.aborted }]));
    };
    const expectedLanes = (extra: number) => ({
      [dest.amplitude]: { depth: 0, delivered: 7 + extra, filtered: 1, aborted: 0 },
      [dest.mixpanel]: { depth: 0, delivered: 8 + extra, filtered: 0, aborted: 0 },
      [dest.ga4]: { depth: 0, delivered: 5, filtered: 3, aborted: extra },
    });
    const deadline = Date.now() + 60_000;
    for (const [i, { user }] of users.entries()) {
      let lanes = await lanesOf(user).catch(() => ({}));
      while (!isDeepStrictEqual(lanes, expectedLanes(i === 0 ? 1 : 0)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        lanes = await lanesOf(user).catch(() => ({}));
      }
      expect(lanes).toEqual(expectedLanes(i === 0 ? 1 : 0));
    }

    for (const [i, { user, anon }] of users.entries()) {
      const sessionStart = i === 0;
      expect(labelsFor(amplitude, amplitudeSeen, user)).toEqual([
        '$identify',
        'Signed Up',
        'Viewed Pricing Page',
        '$identify+$groupidentify',
        'Viewed Home Screen',
        'Order Completed',
        `usermap:${anon}`,
        ...(sessionStart ? ['Session Start'] : []),
      ]);
      expect(labelsFor(mixpanel, mixpanelSeen, user)).toEqual([
        'import:$merge',
        'engage:$set',
        'import:Signed Up',
        'import:Loaded a Page',
        'import:Heartbeat',
        'engage:$union',
        '/groups:$set',
        'import:Loaded a Screen',
        'import:Order Completed',
        'import:$merge',
        ...(sessionStart ? ['import:Session Start'] : []),
      ]);
      expect(labelsFor(ga4, ga4Seen, user)).toEqual(['signed_up', 'page_view', 'heartbeat', 'join_group', 'purchase']);
    }
    expect(amplitude.delivered).toHaveLength(22);
    expect(mixpanel.delivered).toHaveLength(31);
    expect(ga4.delivered).toHaveLength(15);

    const { user, anon } = users[1]!;
    const amplitudeTrack = amplitude.delivered.find((r) => amplitudeSeen(r).user === user && amplitudeSeen(r).label === 'Signed Up')!;
    expect(amplitudeTrack.path).toBe('/2/httpapi');
    expect(amplitudeTrack.body).toEqual({
      api_key: 'amp-key',
      options: { min_id_length: 1 },
      events: [
        {
          event_type: 'Signed Up',
          user_id: user,
          device_id: anon,
          insert_id: `${user}-1`,
          time: expect.any(Number),
          ip: expect.any(String),
          event_properties: { plan: 'pro' },
        },
      ],
    });
    const usermap = new URL(amplitude.delivered.find((r) => amplitudeSeen(r).label === `usermap:${anon}`)!.path, 'http://receiver');
    expect(usermap.searchParams.get('api_key')).toBe('amp-key');
    expect(JSON.parse(usermap.searchParams.get('mapping')!)).toEqual([{ user_id: anon, global_user_id: user }]);

    const mixpanelTrack = mixpanel.delivered.find((r) => mixpanelSeen(r).user === user && mixpanelSeen(r).label === 'import:Signed Up')!;
    expect(mixpanelTrack.path).toBe('/import?strict=1');
    expect(mixpanelTrack.headers.authorization).toBe(`Basic ${Buffer.from('mp-secret:').toString('base64')}`);
    expect(mixpanelTrack.body).toEqual([
      {
        event: 'Signed Up',
        properties: { plan: 'pro', token: 'mp-token', distinct_id: user, $insert_id: `${user}-1`, time: expect.any(Number), ip: expect.any(String) },
      },
    ]);
    const identify = mixpanel.delivered.find((r) => mixpanelSeen(r).user === user && mixpanelSeen(r).label === 'engage:$set')!;
    expect(identify.body).toEqual([{ $token: 'mp-token', $distinct_id: user, $ip: expect.any(String), $set: { $email: `${user}@example.com`, plan: 'pro' } }]);

    const purchase = ga4.delivered.find((r) => ga4Seen(r).user === user && ga4Seen(r).label === 'purchase')!;
    expect(purchase.path).toBe('/mp/collect?measurement_id=G-TEST123&api_secret=ga-secret');
    expect(purchase.body).toEqual({
      client_id: anon,
      user_id: user,
      timestamp_micros: expect.any(Number),
      events: [
        {
          name: 'purchase',
          params: { transaction_id: `ord-${user}`, currency: 'EUR', value: 20, items: [{ item_id: 'sku-1', item_name: 'Mug', price: 20, quantity: 1 }] },
        },
      ],
    });

    const deadLetters = await pipeline.deadLetters(dest.ga4);
    expect(deadLetters.map((d) => ({ messageId: d.message_id, stage: d.stage, reason: d.reason }))).toEqual([
      { messageId: `${users[0]!.user}-8`, stage: 'transform', reason: 'GA4 reserves the event name "session_start" (from track event "Session Start")' },
    ]);
    expect(await pipeline.deadLetters(dest.amplitude)).toEqual([]);
    expect(await pipeline.deadLetters(dest.mixpanel)).toEqual([]);
  });
});
