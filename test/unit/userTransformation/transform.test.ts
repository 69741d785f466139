import { createTransform } from '../../../activities/transform';
import { UserTransformationSandboxes } from '../../../transformations/pool';
import type { TransformOutcome } from '../../../activities/transform';
import { parseWorkspace } from '../../../config/workspace';
import { COMPILING, TEST_LIMITS, trackEvent } from './support';

let versions = 0;

/** The transform activity with a webhook destination whose transformation is `code`. */
function transformWith(code: string, destinationConfig: Record<string, unknown> = {}, budgetMs?: number) {
  const workspace = parseWorkspace(
    {
      sources: [
        {
          id: 'src',
          writeKey: 'wk',
          enabled: true,
          destinations: [
            {
              id: 'hook',
              enabled: true,
              destinationDefinition: { name: 'WEBHOOK' },
              config: { webhookUrl: 'http://127.0.0.1:9/in', ...destinationConfig },
              transformations: [{ versionId: `v-${(versions += 1)}`, name: 'ut', config: { code } }],
            },
          ],
        },
      ],
    },
    'test.json',
    COMPILING,
  );
  const transform = createTransform({ workspace, sandboxes, userTransformationBudgetMs: budgetMs });
  return (events = [trackEvent('m1', { price: 10 })]) => transform({ sourceId: 'src', destinationId: 'hook', events });
}

const sandboxes = new UserTransformationSandboxes(TEST_LIMITS);
afterAll(() => sandboxes.dispose());

/** The webhook bodies of an ok outcome. */
const bodies = (outcome: TransformOutcome) => (outcome.outcome === 'ok' ? outcome.requests.map((r) => (r.kind === 'http' ? r.body : r)) : outcome);

describe('transform with a user transformation', () => {
  it('sends the transformed event to the destination', async () => {
    const [outcome] = await transformWith('export function transformEvent(e) { e.properties.currency = "EUR"; return e; }')();
    expect(outcome!.outcome).toBe('ok');
    expect(bodies(outcome!)).toEqual([trackEvent('m1', { price: 10, currency: 'EUR' })]);
  });

  it('records a dropped event as filtered', async () => {
    expect(await transformWith('export function transformEvent() { return null; }')()).toEqual([
      { messageId: 'm1', outcome: 'filtered', reason: 'user transformation "ut" dropped the event' },
    ]);
  });

  it('concatenates the requests of fanned-out events in order, under the input messageId', async () => {
    const [outcome] = await transformWith(`
      export function transformEvent(e) {
        return [{ ...e, event: 'one', messageId: e.messageId + '-1' }, { ...e, event: 'two', messageId: e.messageId + '-2' }];
      }`)();
    expect(outcome!.messageId).toBe('m1');
    expect(bodies(outcome!)).toEqual([
      { ...trackEvent('m1-1', { price: 10 }), event: 'one' },
      { ...trackEvent('m1-2', { price: 10 }), event: 'two' },
    ]);
  });

  it('aborts the event when the code throws', async () => {
    expect(await transformWith('export function transformEvent() { throw new Error("no price"); }')()).toEqual([
      { messageId: 'm1', outcome: 'aborted', reason: 'user transformation "ut" threw: no price' },
    ]);
  });

  it('applies the destination’s event filter to the events the code returns', async () => {
    const transform = transformWith('export function transformEvent(e) { return [{ ...e, event: "Kept" }, { ...e, event: "Denied" }]; }', {
      eventFilteringOption: 'blacklistedEvents',
      blacklistedEvents: [{ eventName: 'Denied' }],
    });
    const [outcome] = await transform();
    expect(bodies(outcome!)).toEqual([{ ...trackEvent('m1', { price: 10 }), event: 'Kept' }]);
  });

  it('returns outcomes for a prefix when the budget is spent; the rest wait for the next call', async () => {
    const transform = transformWith('export function transformEvent(e) { return e; }', {}, 0);
    const events = [trackEvent('a'), trackEvent('b'), trackEvent('c')];
    expect((await transform(events)).map((o) => o.messageId)).toEqual(['a']);
    expect((await transform(events.slice(1))).map((o) => o.messageId)).toEqual(['b']);
  });

  it('maps transformBatch results back to their inputs', async () => {
    const transform = transformWith(`
      export function transformBatch(events) {
        return events.filter((e) => e.messageId !== 'b').flatMap((e) => [e, { ...e, event: e.event + ' (copy)' }]);
      }`);
    const outcomes = await transform([trackEvent('a'), trackEvent('b'), trackEvent('c')]);
    expect(outcomes.map((o) => [o.messageId, o.outcome, o.outcome === 'ok' ? o.requests.length : 0])).toEqual([
      ['a', 'ok', 2],
      ['b', 'filtered', 0],
      ['c', 'ok', 2],
    ]);
  });
});
