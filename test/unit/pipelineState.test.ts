import type { LogRef, LogSignalInput } from '../../workflows/definitions';
import { PipelineState } from '../../workflows/state';

const DEDUP = { windowMs: 60_000, maxEntries: 100 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** Log references to events n…, all routed to `destinationIds`; positions follow n (one transaction each). */
function logged(ns: number[], destinationIds: string[] = ['a', 'b'], { loggedAt = T0, messageId = (n: number) => `m${n}` } = {}): LogSignalInput {
  const refs = ns.map((n): LogRef => ({ xid: String(1000 + n), seq: n, messageId: messageId(n), type: 'track', event: `e${n}`, loggedAt: loggedAt + n, route: 0 }));
  return { refs, routes: [destinationIds] };
}

const ids = (items: ReadonlyArray<{ messageId: string }>) => items.map((i) => i.messageId);

describe('PipelineState', () => {
  it('queues each event on each of its destinations, in order, as references only', () => {
    const state = new PipelineState(DEDUP);
    state.accept({ refs: [...logged([1]).refs, { ...logged([2]).refs[0]!, route: 1 }], routes: [['a', 'b'], ['b']] }, T0);
    expect(state.laneIdsWithWork().sort()).toEqual(['a', 'b']);
    expect(state.head('a', 10)).toEqual([{ seq: 1, messageId: 'm1', attempts: 0, firstFailureAt: undefined }]);
    expect(ids(state.head('b', 10))).toEqual(['m1', 'm2']);
    expect(state.pendingEvents()).toBe(2);
    expect(state.appliedPosition()).toEqual({ xid: '1002', seq: 2 });
  });

  it('drops rows a relay sends again: everything at or before the last applied position', () => {
    const state = new PipelineState(DEDUP);
    state.accept(logged([1, 2, 3], ['a']), T0);
    // A relay crashed after its signal but before moving its cursor: it sends 2 and 3 again, then 4.
    state.accept(logged([2, 3, 4], ['a']), T0);
    expect(state.relayRepeatsDropped()).toBe(2);
    expect(ids(state.head('a', 10))).toEqual(['m1', 'm2', 'm3', 'm4']);
    // Positions compare by transaction id first: a later transaction with a lower sequence number is new.
    state.accept({ refs: [{ xid: '2000', seq: 1, messageId: 'late', type: 'track', loggedAt: T0, route: 0 }], routes: [['a']] }, T0);
    expect(ids(state.head('a', 10)).at(-1)).toBe('late');
  });

  it('drops a messageId seen inside the dedup window, keeps one seen outside it', () => {
    const state = new PipelineState(DEDUP);
    state.accept(logged([1], ['a']), T0);
    state.accept(logged([2], ['a'], { messageId: () => 'm1' }), T0 + 1_000);
    expect(state.duplicatesDropped()).toBe(1);
    state.applyResults('a', [{ messageId: 'm1', outcome: 'delivered' }]);
    // Delivered, but still inside the window: still a duplicate.
    state.accept(logged([3], ['a'], { messageId: () => 'm1' }), T0 + 30_000);
    expect(state.duplicatesDropped()).toBe(2);
    state.accept(logged([4], ['a'], { messageId: () => 'm1', loggedAt: T0 + 120_000 }), T0 + 120_000);
    expect(ids(state.head('a', 10))).toEqual(['m1']);
  });

  it('bounds the dedup memory by maxEntries', () => {
    const state = new PipelineState({ windowMs: 60_000, maxEntries: 3 });
    state.accept(logged([1, 2, 3, 4, 5], []), T0);
    // Only the 3 newest are remembered; m1 is accepted again.
    state.accept(logged([6], ['a'], { messageId: () => 'm1' }), T0);
    expect(state.duplicatesDropped()).toBe(0);
    state.accept(logged([7], ['a'], { messageId: () => 'm5' }), T0);
    expect(state.duplicatesDropped()).toBe(1);
  });

  it('settles results in lane order and releases an event once every lane is done', () => {
    const state = new PipelineState(DEDUP);
    state.accept(logged([1, 2, 3]), T0);
    expect(ids(state.head('a', 2))).toEqual(['m1', 'm2']);
    state.applyResults('a', [
      { messageId: 'm1', outcome: 'delivered' },
      { messageId: 'm2', outcome: 'aborted', stage: 'deliver', reason: 'HTTP 400', status: 400, attempts: 1 },
      { messageId: 'm3', outcome: 'filtered', reason: 'deny list' },
    ]);
    expect(state.snapshot().find((l) => l.destinationId === 'a')).toMatchObject({ depth: 0, delivered: 1, aborted: 1, filtered: 1 });
    expect(state.pendingEvents()).toBe(3); // lane b still owes all three
    expect(() => state.applyResults('b', [{ messageId: 'm2', outcome: 'delivered' }])).toThrow(/does not match the head/);
    state.applyResults('b', ['m1', 'm2', 'm3'].map((messageId) => ({ messageId, outcome: 'delivered' as const })));
    expect(state.hasWork()).toBe(false);
  });

  it('tracks failures on the head: attempts, first failure, stuck destinations; Ferry’s own failures use no budget', () => {
    const state = new PipelineState(DEDUP);
    state.accept(logged([1]), T0);
    state.recordFailure('a', { messageId: 'm1', error: 'HTTP 503', status: 503, failedAt: T0 + 5, retryAt: T0 + 10_005 });
    state.recordFailure('a', { messageId: 'm1', error: 'HTTP 502', status: 502, failedAt: T0 + 9, retryAt: T0 + 20_009 });
    state.recordFailure('b', { error: 'database away', failedAt: T0 + 9, retryAt: T0 + 1_009, counts: false });
    expect(state.stuckDestinations()).toEqual(['a', 'b']);
    expect(state.head('a', 10)).toEqual([expect.objectContaining({ attempts: 2, firstFailureAt: T0 + 5 })]);
    expect(state.head('b', 10)).toEqual([expect.objectContaining({ attempts: 0, firstFailureAt: undefined })]);
    expect(state.retryWaitMs('b', T0 + 9)).toBe(1_000);
    expect(state.snapshot().find((l) => l.destinationId === 'a')).toMatchObject({
      attempts: 2,
      lastError: 'HTTP 502',
      lastStatus: 502,
      nextAttemptAt: new Date(T0 + 20_009).toISOString(),
      head: { seq: 1, messageId: 'm1', type: 'track', event: 'e1' },
    });
    state.applyResults('a', [{ messageId: 'm1', outcome: 'delivered' }]);
    expect(state.stuckDestinations()).toEqual(['b']);
  });

  it('knows the oldest pending event, for holds on the log', () => {
    const state = new PipelineState(DEDUP);
    expect(state.oldestPendingLoggedAt()).toBeUndefined();
    state.accept(logged([5, 6], ['a']), T0);
    expect(state.oldestPendingLoggedAt()).toBe(T0 + 5);
    state.applyResults('a', [{ messageId: 'm5', outcome: 'delivered' }]);
    expect(state.oldestPendingLoggedAt()).toBe(T0 + 6);
  });

  it('survives a continue-as-new hand-over with lanes, progress, the dedup window and the applied position intact', () => {
    const state = new PipelineState(DEDUP);
    state.accept(logged([1, 2, 3]), T0);
    state.applyResults('a', [{ messageId: 'm1', outcome: 'delivered' }]);
    state.recordFailure('a', { messageId: 'm2', error: 'x', failedAt: T0, retryAt: T0 + 1 });
    const carried = JSON.parse(JSON.stringify(state.carry(T0)));
    // Each pending event is carried once, however many lanes hold it, and as a reference only.
    expect(carried.refs.map((r: { messageId: string }) => r.messageId).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(Object.keys(carried.refs[0]).sort()).toEqual(['event', 'loggedAt', 'messageId', 'seq', 'type', 'xid']);

    const next = new PipelineState(DEDUP, carried);
    expect(next.snapshot()).toEqual(state.snapshot());
    next.accept(logged([3]), T0 + 10);
    expect(next.relayRepeatsDropped()).toBe(1);
    next.accept(logged([4], ['a'], { messageId: () => 'm2' }), T0 + 10);
    expect(next.duplicatesDropped()).toBe(1);
    expect(next.head('a', 10)).toEqual([expect.objectContaining({ messageId: 'm2', attempts: 1 }), expect.objectContaining({ messageId: 'm3' })]);
    expect(ids(next.head('b', 10))).toEqual(['m1', 'm2', 'm3']);
  });
});
