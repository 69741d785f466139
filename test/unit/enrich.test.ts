/** What the gateway adds to an event, checked by value. */
import { createHash } from 'node:crypto';
import { enrich, rudderId, type RequestFacts } from '../../api/enrich';
import { eventSchema } from '../../api/schemas';
import { parseBatch, parseSingle } from '../../api/validate';

const receivedAt = new Date('2026-11-26T12:00:10.000Z');

/** A track event as the gateway's schema leaves it. */
function valid(fields: Record<string, unknown> = {}) {
  return eventSchema.parse({ type: 'track', event: 'Signed Up', userId: 'u1', ...fields });
}

function enriched(fields: Record<string, unknown> = {}, facts: Partial<RequestFacts> = {}) {
  return enrich(valid(fields), { receivedAt, ...facts });
}

/**
 * The documented rule, written out independently of the code under test: sha256 of
 * `${anonymousId ?? ''}<<>>${userId ?? ''}`, its first 16 bytes laid out as a version-5 UUID
 * (RFC 9562: version nibble 5, variant bits 10).
 */
function expectedRudderId(userId: string | undefined, anonymousId: string | undefined): string {
  const bytes = createHash('sha256').update(`${anonymousId ?? ''}<<>>${userId ?? ''}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

describe('skew-corrected timestamp', () => {
  // timestamp = receivedAt - (sentAt - originalTimestamp): the event happened 5 s before the client
  // sent it, whatever the client's clock said.
  it.each([
    ['5 s behind', '2026-11-26T12:00:05.000Z', '2026-11-26T12:00:00.000Z'],
    ['1 h behind', '2026-11-26T11:00:05.000Z', '2026-11-26T11:00:00.000Z'],
    ['1 h ahead', '2026-11-26T13:00:05.000Z', '2026-11-26T13:00:00.000Z'],
    ['right, in another time zone', '2026-11-26T13:00:10+01:00', '2026-11-26T13:00:05+01:00'],
  ])('a client clock %s: sentAt %s, originalTimestamp %s', (_clock, sentAt, originalTimestamp) => {
    expect(enriched({ sentAt, originalTimestamp }).timestamp).toBe('2026-11-26T12:00:05.000Z');
  });

  it('keeps milliseconds', () => {
    const event = enriched({ sentAt: '2026-11-26T11:00:05.250Z', originalTimestamp: '2026-11-26T11:00:00.125Z' });
    expect(event.timestamp).toBe('2026-11-26T12:00:04.875Z');
  });

  it('is receivedAt when the event has no originalTimestamp, with or without sentAt', () => {
    expect(enriched().timestamp).toBe('2026-11-26T12:00:10.000Z');
    expect(enriched({ sentAt: '2026-11-26T11:00:05.000Z' }).timestamp).toBe('2026-11-26T12:00:10.000Z');
  });

  it('is originalTimestamp when nothing tells the skew (no sentAt)', () => {
    expect(enriched({ originalTimestamp: '2026-11-26T11:00:00.000Z' }).timestamp).toBe('2026-11-26T11:00:00.000Z');
  });

  it('keeps an explicit timestamp as is', () => {
    const event = enriched({ timestamp: '2026-01-02T03:04:05.678Z', sentAt: '2026-11-26T11:00:05.000Z', originalTimestamp: '2026-11-26T11:00:00.000Z' });
    expect(event.timestamp).toBe('2026-01-02T03:04:05.678Z');
    expect(event.originalTimestamp).toBe('2026-11-26T11:00:00.000Z');
  });

  it("uses the batch envelope's sentAt when the event has none, and the event's own when it has one", () => {
    const batchSentAt = '2026-11-26T11:00:05.000Z';
    const withoutOwn = enriched({ originalTimestamp: '2026-11-26T11:00:00.000Z' }, { batchSentAt });
    expect(withoutOwn).toMatchObject({ sentAt: batchSentAt, timestamp: '2026-11-26T12:00:05.000Z' });
    const withOwn = enriched({ sentAt: '2026-11-26T13:00:05.000Z', originalTimestamp: '2026-11-26T13:00:00.000Z' }, { batchSentAt });
    expect(withOwn).toMatchObject({ sentAt: '2026-11-26T13:00:05.000Z', timestamp: '2026-11-26T12:00:05.000Z' });
  });

  it('gets the envelope sentAt through a batch request', () => {
    const [own, inherited] = parseBatch(
      {
        sentAt: '2026-11-26T11:00:05.000Z',
        batch: [
          { type: 'track', event: 'a', userId: 'u1', sentAt: '2026-11-26T13:00:05.000Z', originalTimestamp: '2026-11-26T13:00:01.000Z' },
          { type: 'track', event: 'b', userId: 'u1', originalTimestamp: '2026-11-26T11:00:02.000Z' },
        ],
      },
      { receivedAt },
    );
    expect(own).toMatchObject({ sentAt: '2026-11-26T13:00:05.000Z', timestamp: '2026-11-26T12:00:06.000Z' });
    expect(inherited).toMatchObject({ sentAt: '2026-11-26T11:00:05.000Z', timestamp: '2026-11-26T12:00:07.000Z' });
  });
});

describe('rudderId', () => {
  it('follows the documented rule for a known pair', () => {
    const expected = expectedRudderId('u1', 'anon-1');
    expect(expected).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(rudderId('u1', 'anon-1')).toBe(expected);
    expect(enriched({ userId: 'u1', anonymousId: 'anon-1' }).rudderId).toBe(expected);
    // With one id missing, the rule hashes an empty string in its place.
    expect(enriched({ userId: undefined, anonymousId: 'anon-1' }).rudderId).toBe(expectedRudderId(undefined, 'anon-1'));
    expect(enriched({ userId: 'u1' }).rudderId).toBe(expectedRudderId('u1', undefined));
  });

  it.each([
    // Hashes with the variant byte's top bits 10, 01, 01 and 11: the layout must overwrite both.
    ['alice', undefined],
    ['u2', 'anon-1'],
    ['u1', 'anon-2'],
    [undefined, 'anon-9'],
  ])('follows the documented rule for (userId %j, anonymousId %j)', (userId, anonymousId) => {
    expect(rudderId(userId, anonymousId)).toBe(expectedRudderId(userId, anonymousId));
  });

  it('is stable for a pair and differs between pairs', () => {
    expect(rudderId('u1', 'anon-1')).toBe(rudderId('u1', 'anon-1'));
    const ids = [rudderId('u1', 'anon-1'), rudderId('u2', 'anon-1'), rudderId('u1', 'anon-2'), rudderId('anon-1', 'u1'), rudderId('u1', undefined), rudderId(undefined, 'u1')];
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('the other added fields', () => {
  it('sets request_ip, receivedAt (ISO) and sentAt from the request', () => {
    const event = enriched({ sentAt: '2026-11-26T12:00:09.000Z' }, { requestIp: '203.0.113.7' });
    expect(event).toMatchObject({ request_ip: '203.0.113.7', receivedAt: '2026-11-26T12:00:10.000Z', sentAt: '2026-11-26T12:00:09.000Z' });
    expect(enriched({}, { receivedAt: new Date(Date.UTC(2027, 0, 1, 0, 0, 0, 42)) }).receivedAt).toBe('2027-01-01T00:00:00.042Z');
  });

  it('keeps the fields the client sent', () => {
    expect(enriched({ properties: { plan: 'pro' }, context: { app: 'web' } })).toMatchObject({
      type: 'track',
      event: 'Signed Up',
      userId: 'u1',
      properties: { plan: 'pro' },
      context: { app: 'web' },
    });
  });

  it('keeps keys named __proto__ as ordinary properties, at every level, and changes no prototype', () => {
    // As JSON.parse leaves them: own properties, not prototypes (the CI fuzz run's seed 76859179 found
    // traits.__proto__ dropped from the stored event).
    const body = JSON.parse(
      '{"userId":"u1","event":"e","__proto__":{"top":1},"traits":{"__proto__":{"t":2},"plan":"pro"},"properties":{"a":{"__proto__":{"deep":3}}},"context":{"__proto__":{"c":4}}}',
    ) as Record<string, unknown>;
    const [single] = parseSingle(body, 'track', { receivedAt });
    const [batched] = parseBatch({ batch: [{ ...body, type: 'track' }], context: { __proto__: null, outer: 1 } }, { receivedAt });
    for (const event of [single!, batched!]) {
      const stored = JSON.parse(JSON.stringify(event)) as Record<string, Record<string, unknown>>;
      expect(stored['__proto__']).toEqual({ top: 1 });
      expect(stored.traits).toEqual(JSON.parse('{"__proto__":{"t":2},"plan":"pro"}'));
      expect(stored.properties).toEqual(JSON.parse('{"a":{"__proto__":{"deep":3}}}'));
      expect(stored.context!['__proto__']).toEqual({ c: 4 });
      expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
      expect(Object.getPrototypeOf(event.traits)).toBe(Object.prototype);
      expect((event as unknown as Record<string, unknown>).top).toBeUndefined();
    }
    expect(({} as Record<string, unknown>).top).toBeUndefined();
  });

  it('keeps a given messageId, and gives a missing one a random UUID v4', () => {
    expect(enriched({ messageId: 'client-msg-1' }).messageId).toBe('client-msg-1');
    const [a, b] = [enriched().messageId, enriched().messageId];
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });
});
