import { UserTransformationSandboxes } from '../../../transformations/pool';
import { runUserTransformation } from '../../../transformations/run';
import { CONTEXT, TEST_LIMITS, trackEvent, transformationOf } from './support';

describe('runUserTransformation', () => {
  const sandboxes = new UserTransformationSandboxes(TEST_LIMITS);
  afterAll(() => sandboxes.dispose());

  const run = (code: string, events = [trackEvent('m1', { price: 10 })], options = {}) =>
    runUserTransformation(sandboxes, transformationOf(code), events, CONTEXT, options);

  describe('transformEvent', () => {
    it('returns the enriched event, with metadata(event) as RudderStack gives it', async () => {
      const code = `
        export function transformEvent(event, metadata) {
          const meta = metadata(event);
          event.properties.priceWithTax = event.properties.price * 1.2;
          event.context = { meta };
          return event;
        }`;
      const [result] = await run(code);
      expect(result).toEqual({
        messageId: 'm1',
        kind: 'events',
        events: [
          {
            ...trackEvent('m1', { price: 10, priceWithTax: 12 }),
            context: {
              meta: {
                sourceId: 'src-1',
                sourceName: 'Web',
                destinationId: 'dest-1',
                destinationName: 'Hook',
                destinationType: 'WEBHOOK',
                messageId: 'm1',
                eventType: 'track',
                eventName: 'Order Completed',
                transformationId: 'test-id',
                transformationVersionId: expect.stringMatching(/^test-v\d+$/),
              },
            },
          },
        ],
      });
    });

    it('is called once per event, in order, with each event alone', async () => {
      const code = `
        let calls = 0;
        export function transformEvent(event) {
          calls += 1;
          return { ...event, properties: { call: calls, messageId: event.messageId } };
        }`;
      const results = await run(code, [trackEvent('a'), trackEvent('b'), trackEvent('c')]);
      expect(results.map((r) => (r.kind === 'events' ? r.events.map((e) => e.properties) : r.reason))).toEqual([
        [{ call: 1, messageId: 'a' }],
        [{ call: 2, messageId: 'b' }],
        [{ call: 3, messageId: 'c' }],
      ]);
    });

    it.each([
      ['null', 'return null;'],
      ['undefined', 'return undefined;'],
      ['nothing', 'return;'],
      ['an empty array', 'return [];'],
      ['an array of nulls', 'return [null, undefined];'],
    ])('drops the event when the code returns %s', async (_, body) => {
      const results = await run(`export function transformEvent(event) { if (event.messageId === 'drop') { ${body} } return event; }`, [
        trackEvent('drop'),
        trackEvent('keep'),
      ]);
      expect(results.map((r) => (r.kind === 'events' ? r.events.map((e) => e.messageId) : r.reason))).toEqual([[], ['keep']]);
    });

    it('emits every event of a returned array, in order', async () => {
      const code = `
        export function transformEvent(event) {
          return [
            { ...event, event: 'First' },
            null,
            { ...event, event: 'Second' },
            { ...event, event: 'Third' },
          ];
        }`;
      const [result] = await run(code);
      expect(result!.kind === 'events' && result!.events.map((e) => e.event)).toEqual(['First', 'Second', 'Third']);
    });

    it('aborts only the event whose call throws, with the error message', async () => {
      const code = `
        export function transformEvent(event) {
          if (event.properties.bad) throw new Error('price is missing for ' + event.messageId);
          return event;
        }`;
      const results = await run(code, [trackEvent('ok1'), trackEvent('bad', { bad: true }), trackEvent('ok2')]);
      expect(results).toEqual([
        { messageId: 'ok1', kind: 'events', events: [trackEvent('ok1')] },
        { messageId: 'bad', kind: 'aborted', reason: 'user transformation "test" threw: price is missing for bad' },
        { messageId: 'ok2', kind: 'events', events: [trackEvent('ok2')] },
      ]);
    });

    it('describes thrown values that are not errors', async () => {
      const results = await run(`export function transformEvent(event) { throw 'plain string'; }`);
      expect(results[0]).toEqual({ messageId: 'm1', kind: 'aborted', reason: 'user transformation "test" threw: plain string' });
    });

    it('waits for async functions and returned promises', async () => {
      const code = `
        const later = (value) => new Promise((resolve) => Promise.resolve().then(() => resolve(value)));
        export async function transformEvent(event, metadata) {
          const step = await later('awaited');
          if (event.messageId === 'reject') await Promise.reject(new Error('async failure'));
          return later({ ...event, properties: { step, sourceId: metadata(event).sourceId } });
        }`;
      const results = await run(code, [trackEvent('m1'), trackEvent('reject')]);
      expect(results).toEqual([
        { messageId: 'm1', kind: 'events', events: [{ ...trackEvent('m1'), properties: { step: 'awaited', sourceId: 'src-1' } }] },
        { messageId: 'reject', kind: 'aborted', reason: 'user transformation "test" threw: async failure' },
      ]);
    });

    it('gives an event built from scratch the gateway fields of its input', async () => {
      const code = `export function transformEvent(event) { return { type: 'identify', userId: event.userId, traits: { plan: 'pro' } }; }`;
      const [result] = await run(code);
      expect(result).toEqual({
        messageId: 'm1',
        kind: 'events',
        events: [
          { type: 'identify', userId: 'u1', traits: { plan: 'pro' }, messageId: 'm1', rudderId: 'r-1', receivedAt: '2024-05-01T10:00:00.000Z', timestamp: '2024-05-01T10:00:00.000Z' },
        ],
      });
    });

    it.each([
      ['a number', 'return 42;', 'transformEvent must return an event object, an array of events, null or undefined; got number'],
      ['a nested array', 'return [[event]];', 'got a nested array'],
      ['an unknown type', "return { ...event, type: 'trak' };", 'returned an invalid event (#1): type:'],
      ['non-object properties', "return { ...event, properties: 'x' };", 'returned an invalid event (#1): properties:'],
      ['a cyclic object', 'const e = { ...event }; e.self = e; return e;', 'threw: '],
    ])('aborts the event when the code returns %s', async (_, body, reason) => {
      const [result] = await run(`export function transformEvent(event) { ${body} }`);
      expect(result).toEqual({ messageId: 'm1', kind: 'aborted', reason: expect.stringContaining(reason) });
    });

    it('removes ids the code set to null', async () => {
      const [result] = await run(`export function transformEvent(event) { return { ...event, userId: null, anonymousId: 'anon' }; }`);
      const { userId: _, ...withoutUser } = trackEvent('m1', { price: 10 });
      expect(result).toEqual({ messageId: 'm1', kind: 'events', events: [{ ...withoutUser, anonymousId: 'anon' }] });
      expect(result!.kind === 'events' && 'userId' in result!.events[0]!).toBe(false);
    });

    it('stops starting calls once the budget is spent, always running the first event', async () => {
      let clock = 0;
      const now = () => clock;
      const code = `export function transformEvent(event) { return event; }`;
      const transformation = transformationOf(code);
      const events = [trackEvent('a'), trackEvent('b'), trackEvent('c')];
      const results = await runUserTransformation(sandboxes, transformation, events, CONTEXT, {
        budgetMs: 100,
        // Each reading after the first is 60 ms later: a and b start within the budget, c does not.
        now: () => {
          const t = now();
          clock += 60;
          return t;
        },
      });
      expect(results.map((r) => r.messageId)).toEqual(['a', 'b']);
      expect(await runUserTransformation(sandboxes, transformation, events, CONTEXT, { budgetMs: 0 })).toHaveLength(1);
    });
  });

  describe('transformBatch', () => {
    it('gets all events with their metadata and maps the results back by messageId', async () => {
      const code = `
        export function transformBatch(events, metadata) {
          return events
            .filter((e) => e.messageId !== 'b')
            .map((e) => ({ ...e, properties: { seen: events.length, destinationId: metadata(e).destinationId, messageId: metadata(e).messageId } }));
        }`;
      const results = await run(code, [trackEvent('a'), trackEvent('b'), trackEvent('c')]);
      expect(results).toEqual([
        { messageId: 'a', kind: 'events', events: [{ ...trackEvent('a'), properties: { seen: 3, destinationId: 'dest-1', messageId: 'a' } }] },
        { messageId: 'b', kind: 'events', events: [] },
        { messageId: 'c', kind: 'events', events: [{ ...trackEvent('c'), properties: { seen: 3, destinationId: 'dest-1', messageId: 'c' } }] },
      ]);
    });

    it('finds metadata of an event whose messageId the code changed, by the object itself', async () => {
      const code = `
        export function transformBatch(events, metadata) {
          const first = events[0];
          first.messageId = 'changed';
          const meta = metadata(first);
          return [{ ...events[1], properties: { metaOfChanged: meta.messageId } }];
        }`;
      const [, second] = await run(code, [trackEvent('a'), trackEvent('b')]);
      expect(second!.kind === 'events' && second!.events[0]!.properties).toEqual({ metaOfChanged: 'a' });
    });

    it('groups fanned-out events under their input, in the order returned', async () => {
      const code = `
        export function transformBatch(events) {
          const out = [];
          for (const e of events.slice().reverse()) out.push({ ...e, event: e.messageId + '-1' }, { ...e, event: e.messageId + '-2' });
          return out;
        }`;
      const results = await run(code, [trackEvent('a'), trackEvent('b')]);
      expect(results.map((r) => r.kind === 'events' && r.events.map((e) => e.event))).toEqual([
        ['a-1', 'a-2'],
        ['b-1', 'b-2'],
      ]);
    });

    it('aborts the whole batch when it throws, or returns an event matching no input', async () => {
      const events = [trackEvent('a'), trackEvent('b')];
      const thrown = await run(`export async function transformBatch(events) { throw new Error('batch failed'); }`, events);
      expect(thrown).toEqual([
        { messageId: 'a', kind: 'aborted', reason: 'user transformation "test" threw: batch failed' },
        { messageId: 'b', kind: 'aborted', reason: 'user transformation "test" threw: batch failed' },
      ]);
      const stray = await run(`export function transformBatch(events) { return [...events, { ...events[0], messageId: 'new' }]; }`, events);
      expect(stray.map((r) => r.kind === 'aborted' && r.reason)).toEqual([
        expect.stringContaining('messageId "new", which matches no input event'),
        expect.stringContaining('messageId "new", which matches no input event'),
      ]);
    });

    it('prefers transformBatch when the code exports both', async () => {
      const code = `
        export function transformEvent(event) { return { ...event, event: 'by transformEvent' }; }
        export function transformBatch(events) { return events.map((e) => ({ ...e, event: 'by transformBatch' })); }`;
      const [result] = await run(code);
      expect(result!.kind === 'events' && result!.events[0]!.event).toBe('by transformBatch');
    });
  });
});
