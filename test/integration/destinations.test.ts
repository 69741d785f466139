/**
 * The vendor destinations through the real gateway, worker, dev server and PostgreSQL: what Amplitude,
 * Mixpanel and GA4 receive (paths, bodies, order per user), what is filtered and what is aborted.
 * Every vendor endpoint points at a Receiver on 127.0.0.1 that checks the request shape the vendor
 * documents (method, path, content type, auth, required fields) and answers 400 with the problems when
 * it is wrong, so a wrong shape aborts the event and fails the test rather than passing as a 200.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../events/json';
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

const HOUR = 3_600_000;
const MIXPANEL_SECRET_AUTH = `Basic ${Buffer.from('mp-secret:').toString('base64')}`;
/** https://docs.mixpanel.com/reference/import-events ("we disallow the following values for distinct_id"). */
const MIXPANEL_PLACEHOLDER_IDS = new Set(['00000000-0000-0000-0000-000000000000', 'anon', 'anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '<nil>', '0', '-1', 'true', 'false', '[]', '{}']);

/**
 * What a shape check sees. A Responder gets only the path and the body, so it checks those and answers
 * 400; after the run every recorded request is checked again with its method and headers.
 */
type Incoming = Pick<ReceivedRequest, 'path' | 'body'> & Partial<Pick<ReceivedRequest, 'method' | 'headers'>>;
type ShapeCheck = (request: Incoming) => string[];

/** A receiver that answers 400, with the problems as the body, to a request its vendor would not take. */
function checkingReceiver(check: ShapeCheck): Promise<Receiver> {
  return Receiver.start(({ path, body }) => {
    const problems = check({ path, body });
    return problems.length === 0 ? { status: 200 } : { status: 400, body: problems.join('; ') };
  });
}

/** Every recorded request's problems, method and headers included, as "<METHOD> <path>: <problem>". */
function shapeProblems(receiver: Receiver, check: ShapeCheck): string[] {
  return receiver.requests.flatMap((r) => check(r).map((problem) => `${r.method} ${r.path.split('?')[0]}: ${problem}`));
}

function postWith(request: Incoming, contentType: string, authorization?: string): string[] {
  const problems: string[] = [];
  if (request.method !== undefined && request.method !== 'POST') problems.push(`method is ${request.method}, not POST`);
  if (request.headers) {
    const type = request.headers['content-type']?.split(';')[0]?.trim();
    if (type !== contentType) problems.push(`content-type is ${type ?? 'missing'}, not ${contentType}`);
    if (authorization !== undefined && request.headers.authorization !== authorization) problems.push('authorization is not the documented HTTP basic credentials');
  }
  return problems;
}

/** The fields of a form body; the Receiver keeps a body that is not JSON as text. */
function formFields(body: unknown): URLSearchParams | undefined {
  return typeof body === 'string' ? new URLSearchParams(body) : undefined;
}

/** A form field holding a JSON array of objects (Amplitude's `mapping` and `identification`). */
function jsonArrayField(fields: URLSearchParams, name: string, problems: string[]): Json[] {
  const text = fields.get(name);
  if (text === null) {
    problems.push(`form field ${name} is missing`);
    return [];
  }
  try {
    // Documented as "either a single JSON … object or an array of JSON objects".
    const value: unknown = JSON.parse(text);
    if (isRecord(value)) return [value];
    if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) return value as Json[];
  } catch {
    // Reported below.
  }
  problems.push(`form field ${name} is not a JSON object or array of objects`);
  return [];
}

const AMPLITUDE_FORM = 'application/x-www-form-urlencoded';

/**
 * Amplitude's documented requests:
 * - HTTP V2 (https://amplitude.com/docs/apis/analytics/http-v2): JSON with api_key and events in the
 *   body; each event has event_type and a user_id or device_id.
 * - User Mapping (https://amplitude.com/docs/apis/analytics/user-mapping): api_key and mapping
 *   (user_id → global_user_id), the key in the body ("Authentication"), as form fields.
 * - Group Identify (https://amplitude.com/docs/apis/analytics/group-identify): form fields api_key and
 *   identification (group_type, group_value, group_properties).
 */
function amplitudeProblems(request: Incoming): string[] {
  const url = new URL(request.path, 'http://receiver');
  const problems: string[] = url.search ? ['parameters belong in the body, not the query string'] : [];
  if (url.pathname === '/2/httpapi') {
    problems.push(...postWith(request, 'application/json'));
    const body = request.body;
    if (!isRecord(body)) return [...problems, 'body is not a JSON object'];
    if (body.api_key !== 'amp-key') problems.push('api_key is not in the body');
    if (!Array.isArray(body.events) || body.events.length === 0) return [...problems, 'events is not a non-empty array'];
    for (const [i, event] of body.events.entries()) {
      if (!isRecord(event) || typeof event.event_type !== 'string') problems.push(`events[${i}] has no event_type`);
      else if (typeof event.user_id !== 'string' && typeof event.device_id !== 'string') problems.push(`events[${i}] has neither user_id nor device_id`);
    }
    return problems;
  }
  if (url.pathname !== '/usermap' && url.pathname !== '/groupidentify') return [`Amplitude has no API at ${url.pathname}`];
  problems.push(...postWith(request, AMPLITUDE_FORM));
  const fields = formFields(request.body);
  if (!fields) return [...problems, 'body is not form-encoded'];
  if (fields.get('api_key') !== 'amp-key') problems.push('api_key is not in the body');
  if (url.pathname === '/usermap') {
    for (const [i, mapping] of jsonArrayField(fields, 'mapping', problems).entries()) {
      if (typeof mapping.user_id !== 'string' || typeof mapping.global_user_id !== 'string') problems.push(`mapping[${i}] needs user_id and global_user_id`);
    }
  } else {
    for (const [i, group] of jsonArrayField(fields, 'identification', problems).entries()) {
      if (typeof group.group_type !== 'string' || typeof group.group_value !== 'string') problems.push(`identification[${i}] needs group_type and group_value`);
      if (group.group_properties !== undefined && !isRecord(group.group_properties)) problems.push(`identification[${i}].group_properties is not an object`);
    }
  }
  return problems;
}

/**
 * Mixpanel's documented requests (https://docs.mixpanel.com/reference/import-events and the ingestion
 * spec, https://docs.mixpanel.com/openapi/ingestion.openapi.yaml): /import takes strict=1, HTTP basic
 * auth and JSON events with time, distinct_id and $insert_id (a $merge: $distinct_ids and token);
 * /engage and /groups take JSON update objects with $token and an operation.
 */
function mixpanelProblems(request: Incoming): string[] {
  const url = new URL(request.path, 'http://receiver');
  const records = request.body;
  switch (url.pathname) {
    case '/import': {
      const problems = postWith(request, 'application/json', MIXPANEL_SECRET_AUTH);
      if (url.searchParams.get('strict') !== '1') problems.push('strict=1 is missing');
      if (!Array.isArray(records) || records.length === 0) return [...problems, 'body is not a non-empty JSON array'];
      for (const [i, record] of records.entries()) {
        const properties: unknown = isRecord(record) ? record.properties : undefined;
        if (!isRecord(record) || typeof record.event !== 'string' || !isRecord(properties)) {
          problems.push(`[${i}] needs event and properties`);
        } else if (record.event === '$merge') {
          const ids = properties.$distinct_ids;
          if (!Array.isArray(ids) || ids.length !== 2 || !ids.every((id) => typeof id === 'string')) problems.push(`[${i}] $merge needs two $distinct_ids`);
          if (properties.token !== 'mp-token') problems.push(`[${i}] $merge needs the token`);
        } else {
          if (typeof properties.time !== 'number') problems.push(`[${i}] properties.time is missing`);
          if (typeof properties.distinct_id !== 'string' || MIXPANEL_PLACEHOLDER_IDS.has(properties.distinct_id)) problems.push(`[${i}] properties.distinct_id is missing or a placeholder`);
          const insertId = properties.$insert_id;
          if (typeof insertId !== 'string' || !/^[A-Za-z0-9-]{1,36}$/.test(insertId) || MIXPANEL_PLACEHOLDER_IDS.has(insertId)) problems.push(`[${i}] properties.$insert_id is invalid`);
        }
      }
      return problems;
    }
    case '/engage':
    case '/groups': {
      const problems = postWith(request, 'application/json');
      if (!Array.isArray(records) || records.length === 0) return [...problems, 'body is not a non-empty JSON array'];
      for (const [i, record] of records.entries()) {
        if (!isRecord(record) || record.$token !== 'mp-token') problems.push(`[${i}] needs $token`);
        else if (url.pathname === '/engage' && (typeof record.$distinct_id !== 'string' || !(isRecord(record.$set) || isRecord(record.$union)))) {
          problems.push(`[${i}] needs $distinct_id and a $set or $union operation`);
        } else if (url.pathname === '/groups' && (typeof record.$group_key !== 'string' || typeof record.$group_id !== 'string' || !isRecord(record.$set))) {
          problems.push(`[${i}] needs $group_key, $group_id and $set`);
        }
      }
      return problems;
    }
    default:
      return [`Mixpanel has no API at ${url.pathname}`];
  }
}

/**
 * GA4's Measurement Protocol (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference):
 * POST JSON to /mp/collect with measurement_id and api_secret in the URL; client_id and 1 to 25 events
 * in the body; timestamp_micros in microseconds, backdated at most 72 hours. Real GA4 answers 2xx even
 * to malformed hits: the 400 is this test's, so that Ferry sending one fails it.
 */
function ga4Problems(request: Incoming): string[] {
  const url = new URL(request.path, 'http://receiver');
  if (url.pathname !== '/mp/collect') return [`GA4 has no API at ${url.pathname}`];
  const problems = postWith(request, 'application/json');
  if (url.searchParams.get('measurement_id') !== 'G-TEST123' || url.searchParams.get('api_secret') !== 'ga-secret') problems.push('measurement_id or api_secret missing from the URL');
  const body = request.body;
  if (!isRecord(body)) return [...problems, 'body is not a JSON object'];
  if (typeof body.client_id !== 'string') problems.push('client_id is missing');
  if (!Array.isArray(body.events) || body.events.length === 0 || body.events.length > 25) problems.push('events must hold 1 to 25 events');
  else {
    for (const [i, event] of body.events.entries()) {
      if (!isRecord(event) || typeof event.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(event.name)) problems.push(`events[${i}].name is not a valid event name`);
      else if (isRecord(event.params) && Object.keys(event.params).length > 25) problems.push(`events[${i}] has more than 25 params`);
    }
  }
  const micros = body.timestamp_micros;
  if (micros !== undefined) {
    if (typeof micros !== 'number' || !Number.isSafeInteger(micros) || micros < 1e15) problems.push('timestamp_micros is not in microseconds');
    else if (Date.now() - micros / 1000 > 72 * HOUR) problems.push('timestamp_micros is more than 72 hours old');
  }
  return problems;
}

/** Who an Amplitude request is about, and what it is. */
function amplitudeSeen(request: ReceivedRequest): Seen {
  const { pathname } = new URL(request.path, 'http://receiver');
  if (pathname === '/usermap' || pathname === '/groupidentify') {
    const fields = new URLSearchParams(String(request.body));
    if (pathname === '/usermap') {
      const [mapping] = JSON.parse(fields.get('mapping') ?? '[]') as Array<{ user_id: string; global_user_id: string }>;
      return { user: mapping!.global_user_id, label: `usermap:${mapping!.user_id}` };
    }
    const [group] = JSON.parse(fields.get('identification') ?? '[]') as Array<{ group_type: string; group_value: string }>;
    return { user: group!.group_value.replace(/^acme-/, ''), label: `groupidentify:${group!.group_type}` };
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
    [amplitude, mixpanel, ga4] = await Promise.all([checkingReceiver(amplitudeProblems), checkingReceiver(mixpanelProblems), checkingReceiver(ga4Problems)]);
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
            groupIdentifyEndpoint: `${amplitude.url}/groupidentify`,
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

  it('delivers each user\'s session to every vendor in order, in the documented shapes, filtering and aborting per destination', async () => {
    const sessions = users.map(({ user, anon }) => session(user, anon));
    const first = users[0]!;
    // The first user also sends an event whose GA4 name is reserved, and one from 4 days ago, older than
    // GA4 takes (timestamp_micros: "backdated up to 3 calendar days").
    sessions[0]!.push(
      { type: 'track', messageId: `${first.user}-8`, userId: first.user, anonymousId: first.anon, event: 'Session Start' },
      { type: 'track', messageId: `${first.user}-9`, userId: first.user, anonymousId: first.anon, event: 'Backfilled', timestamp: new Date(Date.now() - 96 * HOUR).toISOString() },
    );
    // Users interleaved, as one SDK batch from a server would carry them.
    const steps = Math.max(...sessions.map((s) => s.length));
    const batch = Array.from({ length: steps }, (_, step) => sessions.map((s) => s[step])).flat().filter((e) => e !== undefined);
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
    const refusedShape = () => [amplitude, mixpanel, ga4].some((r) => r.requests.some((q) => q.status === 400));
    const deadline = Date.now() + 60_000;
    const drained: Array<Record<string, unknown>> = [];
    for (const [i, { user }] of users.entries()) {
      let lanes = await lanesOf(user).catch(() => ({}));
      while (!isDeepStrictEqual(lanes, expectedLanes(i === 0 ? 2 : 0)) && !refusedShape() && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        lanes = await lanesOf(user).catch(() => ({}));
      }
      drained.push(lanes);
    }
    // A wrong request shape is the clearer failure, so it is reported before the lane counts it skews.
    expect({ amplitude: shapeProblems(amplitude, amplitudeProblems), mixpanel: shapeProblems(mixpanel, mixpanelProblems), ga4: shapeProblems(ga4, ga4Problems) }).toEqual({
      amplitude: [],
      mixpanel: [],
      ga4: [],
    });
    expect(drained).toEqual(users.map((_, i) => expectedLanes(i === 0 ? 2 : 0)));

    for (const [i, { user, anon }] of users.entries()) {
      const extra = i === 0;
      expect(labelsFor(amplitude, amplitudeSeen, user)).toEqual([
        '$identify',
        'Signed Up',
        'Viewed Pricing Page',
        '$identify',
        'groupidentify:group',
        'Viewed Home Screen',
        'Order Completed',
        `usermap:${anon}`,
        ...(extra ? ['Session Start', 'Backfilled'] : []),
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
        ...(extra ? ['import:Session Start', 'import:Backfilled'] : []),
      ]);
      expect(labelsFor(ga4, ga4Seen, user)).toEqual(['signed_up', 'page_view', 'heartbeat', 'join_group', 'purchase']);
    }
    expect(amplitude.delivered).toHaveLength(26);
    expect(mixpanel.delivered).toHaveLength(32);
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
    // https://amplitude.com/docs/apis/analytics/user-mapping: the API key in the body, not the URL.
    const usermap = amplitude.delivered.find((r) => amplitudeSeen(r).label === `usermap:${anon}`)!;
    expect(usermap.path).toBe('/usermap');
    expect(usermap.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(usermap.rawBody))).toEqual({
      api_key: 'amp-key',
      mapping: JSON.stringify([{ user_id: anon, global_user_id: user }]),
    });
    // https://amplitude.com/docs/apis/analytics/group-identify: the group's properties; the user joins the group on a $identify.
    const groupIdentify = amplitude.delivered.find((r) => amplitudeSeen(r).user === user && amplitudeSeen(r).label === 'groupidentify:group')!;
    expect(groupIdentify.path).toBe('/groupidentify');
    const identification = new URLSearchParams(groupIdentify.rawBody);
    expect(identification.get('api_key')).toBe('amp-key');
    expect(JSON.parse(identification.get('identification')!)).toEqual([{ group_type: 'group', group_value: `acme-${user}`, group_properties: { name: 'Acme' } }]);
    const joinGroup = amplitude.delivered.filter((r) => amplitudeSeen(r).user === user && amplitudeSeen(r).label === '$identify')[1]!;
    expect((joinGroup.body as { events: Json[] }).events).toEqual([
      expect.objectContaining({ event_type: '$identify', groups: { group: `acme-${user}` }, user_properties: { group: `acme-${user}` } }),
    ]);

    const mixpanelTrack = mixpanel.delivered.find((r) => mixpanelSeen(r).user === user && mixpanelSeen(r).label === 'import:Signed Up')!;
    expect(mixpanelTrack.path).toBe('/import?strict=1');
    expect(mixpanelTrack.headers.authorization).toBe(MIXPANEL_SECRET_AUTH);
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
      { messageId: `${first.user}-8`, stage: 'transform', reason: 'GA4 reserves the event name "session_start" (from track event "Session Start")' },
      { messageId: `${first.user}-9`, stage: 'transform', reason: expect.stringMatching(/^GA4 drops events more than 72 hours old: this one was received 96 hours after its timestamp /) },
    ]);
    expect(await pipeline.deadLetters(dest.amplitude)).toEqual([]);
    expect(await pipeline.deadLetters(dest.mixpanel)).toEqual([]);
  });
});
