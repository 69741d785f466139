import type { FerryEvent, RoutedEvent } from '../../events/event';
import type { DeliveryRequest } from '../../delivery/requests';
import { PipelineState } from '../../workflows/state';

const DEDUP = { windowMs: 60_000, maxEntries: 100 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

function routed(n: number, destinationIds = ['a', 'b'], receivedAt = T0 + n): RoutedEvent {
  const event: FerryEvent = {
    type: 'track',
    event: `e${n}`,
    messageId: `m${n}`,
    userId: 'u',
    rudderId: 'r',
    receivedAt: new Date(receivedAt).toISOString(),
    timestamp: new Date(receivedAt).toISOString(),
  };
  return { event, destinationIds };
}

const request: DeliveryRequest = { kind: 'http', method: 'POST', url: 'http://127.0.0.1/', headers: {} };
const ok = (messageId: string) => ({ messageId, outcome: 'ok' as const, requests: [request] });

describe('PipelineState', () => {
  it('queues each event on each of its destinations, in order', () => {
    const state = new PipelineState(DEDUP);
    state.accept([routed(1), routed(2, ['b'])], T0);
    expect(state.laneIdsWithWork().sort()).toEqual(['a', 'b']);
    expect(state.untransformedHead('a', 10).map((e) => e.messageId)).toEqual(['m1']);
    expect(state.untransformedHead('b', 10).map((e) => e.messageId)).toEqual(['m1', 'm2']);
    expect(state.pendingEvents()).toBe(2);
  });

  it('drops a messageId seen inside the dedup window, keeps one seen outside it', () => {
    const state = new PipelineState(DEDUP);
    state.accept([routed(1, ['a'])], T0);
    state.accept([routed(1, ['a'])], T0 + 1_000);
    expect(state.duplicatesDropped()).toBe(1);
    state.applyTransform('a', [ok('m1')]);
    state.applyResults('a', [{ messageId: 'm1', outcome: 'delivered' }]);
    // Delivered, but still inside the window: still a duplicate.
    state.accept([routed(1, ['a'])], T0 + 30_000);
    expect(state.duplicatesDropped()).toBe(2);
    state.accept([routed(1, ['a'], T0 + 120_000)], T0 + 120_000);
    expect(state.untransformedHead('a', 10).map((e) => e.messageId)).toEqual(['m1']);
  });

  it('bounds the dedup memory by maxEntries', () => {
    const state = new PipelineState({ windowMs: 60_000, maxEntries: 3 });
    state.accept([1, 2, 3, 4, 5].map((n) => routed(n, [])), T0);
    // Only the 3 newest are remembered; m1 is accepted again.
    state.accept([routed(1, ['a'])], T0);
    expect(state.duplicatesDropped()).toBe(0);
    state.accept([routed(5, ['a'])], T0);
    expect(state.duplicatesDropped()).toBe(1);
  });

  it('settles results in lane order and releases an event once every lane is done', () => {
    const state = new PipelineState(DEDUP);
    state.accept([routed(1), routed(2)], T0);
    state.applyTransform('a', [ok('m1'), ok('m2')]);
    expect(state.deliverableHead('a', 1).map((i) => i.messageId)).toEqual(['m1']);
    const dead = state.applyResults('a', [
      { messageId: 'm1', outcome: 'delivered' },
      { messageId: 'm2', outcome: 'aborted', reason: 'HTTP 400', status: 400, attempts: 1 },
    ]);
    expect(dead).toEqual([expect.objectContaining({ stage: 'deliver', reason: 'HTTP 400', lastStatus: 400, requests: [request] })]);
    expect(state.pendingEvents()).toBe(2); // lane b still owes both
    expect(() => state.applyResults('b', [{ messageId: 'm2', outcome: 'delivered' }])).toThrow(/does not match the head/);
  });

  it('filters and aborts at transform time without blocking the lane', () => {
    const state = new PipelineState(DEDUP);
    state.accept([routed(1, ['a']), routed(2, ['a']), routed(3, ['a'])], T0);
    const dead = state.applyTransform('a', [
      { messageId: 'm1', outcome: 'filtered', reason: 'type' },
      { messageId: 'm2', outcome: 'aborted', reason: 'missing field' },
      ok('m3'),
    ]);
    expect(dead).toEqual([expect.objectContaining({ stage: 'transform', reason: 'missing field', event: expect.objectContaining({ messageId: 'm2' }) })]);
    expect(state.deliverableHead('a', 10).map((i) => i.messageId)).toEqual(['m3']);
    expect(state.snapshot()).toEqual([expect.objectContaining({ destinationId: 'a', depth: 1, filtered: 1, aborted: 1 })]);
  });

  it('tracks failures on the head: attempts, first failure, stuck destinations', () => {
    const state = new PipelineState(DEDUP);
    state.accept([routed(1, ['a', 'b'])], T0);
    state.applyTransform('a', [ok('m1')]);
    state.recordFailure('a', { messageId: 'm1', error: 'HTTP 503', status: 503, failedAt: T0 + 5, retryAt: T0 + 10_005 });
    state.recordFailure('a', { messageId: 'm1', error: 'HTTP 502', status: 502, failedAt: T0 + 9, retryAt: T0 + 20_009 });
    expect(state.stuckDestinations()).toEqual(['a']);
    expect(state.deliverableHead('a', 10)).toEqual([expect.objectContaining({ attempts: 2, firstFailureAt: T0 + 5 })]);
    expect(state.snapshot().find((l) => l.destinationId === 'a')).toMatchObject({ attempts: 2, lastError: 'HTTP 502', lastStatus: 502, nextAttemptAt: new Date(T0 + 20_009).toISOString() });
    state.applyResults('a', [{ messageId: 'm1', outcome: 'delivered' }]);
    expect(state.stuckDestinations()).toEqual([]);
  });

  it('survives a continue-as-new hand-over with lanes, progress and the dedup window intact', () => {
    const state = new PipelineState(DEDUP);
    state.accept([routed(1), routed(2), routed(3)], T0);
    state.applyTransform('a', [ok('m1'), ok('m2')]);
    state.applyResults('a', [{ messageId: 'm1', outcome: 'delivered' }]);
    state.recordFailure('a', { messageId: 'm2', error: 'x', failedAt: T0, retryAt: T0 + 1 });
    const carried = JSON.parse(JSON.stringify(state.carry(T0)));
    // Each pending event is carried once, however many lanes hold it.
    expect(carried.events.map((e: FerryEvent) => e.messageId).sort()).toEqual(['m1', 'm2', 'm3']);

    const next = new PipelineState(DEDUP, carried);
    expect(next.snapshot()).toEqual(state.snapshot());
    next.accept([routed(2)], T0 + 10);
    expect(next.duplicatesDropped()).toBe(1);
    expect(next.deliverableHead('a', 10)).toEqual([expect.objectContaining({ messageId: 'm2', attempts: 1 })]);
    expect(next.untransformedHead('b', 10).map((e) => e.messageId)).toEqual(['m1', 'm2', 'm3']);
  });
});
