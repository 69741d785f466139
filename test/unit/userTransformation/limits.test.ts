import { UserTransformationSandboxes } from '../../../transformations/pool';
import { runUserTransformation, type UserTransformationResult } from '../../../transformations/run';
import { CONTEXT, TEST_LIMITS, trackEvent, transformationOf } from './support';

/** Loops forever, or allocates without bound, when the event asks; otherwise tags it. */
const HOSTILE = `
  export async function transformEvent(event) {
    if (event.event === 'loop') while (true) {}
    if (event.event === 'loop after await') { await null; for (;;) {} }
    if (event.event === 'never settles') await new Promise(() => {});
    if (event.event === 'allocate') { const hoard = []; for (;;) hoard.push(new Array(100000).fill(hoard.length)); }
    return { ...event, properties: { ok: true } };
  }`;

const ok = (messageId: string): UserTransformationResult => ({ messageId, kind: 'events', events: [{ ...trackEvent(messageId, { ok: true }) }] });

describe('sandbox limits', () => {
  const sandboxes = new UserTransformationSandboxes(TEST_LIMITS);
  afterAll(() => sandboxes.dispose());
  const transformation = transformationOf(HOSTILE, 'hostile');
  const runOne = (messageId: string, event?: string) =>
    runUserTransformation(sandboxes, transformation, [trackEvent(messageId, {}, event)], CONTEXT).then(([result]) => result!);

  it.each(['loop', 'loop after await', 'never settles'])('stops "%s" at the timeout, aborts that event, and the next call works', async (event) => {
    expect(await runOne('stuck', event)).toEqual({
      messageId: 'stuck',
      kind: 'aborted',
      reason: `user transformation "hostile" timed out after ${TEST_LIMITS.timeoutMs} ms`,
    });
    expect(await runOne('next')).toEqual(ok('next'));
  });

  it('keeps serving other calls, of the same transformation too, while one loops', async () => {
    const finished: string[] = [];
    const track = (name: string, p: Promise<UserTransformationResult>) => p.then((r) => (finished.push(name), r));
    const looping = track('loop', runOne('stuck', 'loop'));
    // Started after the loop, while it holds one isolate: it runs in the other one.
    const normal = track('normal', runOne('normal'));
    // The host's event loop is free too: a timer set now fires before the loop is stopped.
    const timer = track('timer', new Promise((resolve) => setTimeout(() => resolve(ok('timer')), 0)));
    const results = await Promise.all([looping, normal, timer]);
    expect(finished.indexOf('loop')).toBe(2);
    expect(results[0]).toMatchObject({ kind: 'aborted', reason: expect.stringContaining('timed out') });
    expect(results[1]).toEqual(ok('normal'));
  });

  it('waits for a free isolate when all of a version are busy, then runs', async () => {
    const finished: string[] = [];
    const track = (name: string, p: Promise<UserTransformationResult>) => p.then((r) => (finished.push(name), r));
    const calls = [track('loop1', runOne('l1', 'loop')), track('loop2', runOne('l2', 'loop')), track('queued', runOne('queued'))];
    const results = await Promise.all(calls);
    // It ran only once a looping call gave its isolate back.
    expect(finished[0]).toMatch(/^loop/);
    expect(finished.indexOf('queued')).toBeGreaterThan(0);
    expect(results[2]).toEqual(ok('queued'));
    expect(sandboxes.isolateCount(transformation.versionId)).toBeLessThanOrEqual(TEST_LIMITS.isolatesPerVersion);
  });

  it('kills only the isolate that runs out of memory; the next event gets a fresh one', async () => {
    // Globals survive between calls in one isolate, so a reset counter shows a fresh isolate.
    const counting = transformationOf(`
      let calls = 0;
      export function transformEvent(event) {
        calls += 1;
        if (event.event === 'allocate') { const hoard = []; for (;;) hoard.push(new Array(100000).fill(calls)); }
        return { ...event, properties: { calls } };
      }`);
    const runCounting = (messageId: string, event?: string) =>
      runUserTransformation(sandboxes, counting, [trackEvent(messageId, {}, event)], CONTEXT).then(([r]) => r!);
    const calls = (r: UserTransformationResult) => (r.kind === 'events' ? r.events[0]!.properties : r.reason);
    expect(calls(await runCounting('a'))).toEqual({ calls: 1 });
    expect(calls(await runCounting('b'))).toEqual({ calls: 2 });
    expect(await runCounting('boom', 'allocate')).toEqual({
      messageId: 'boom',
      kind: 'aborted',
      reason: `user transformation "test" ran out of memory (limit ${TEST_LIMITS.memoryMb} MB); its isolate was discarded`,
    });
    expect(calls(await runCounting('c'))).toEqual({ calls: 1 });
    // And the worker (this process) still runs everything else.
    expect(await runOne('after')).toEqual(ok('after'));
  });

  it('fails calls in flight and refuses new ones once disposed', async () => {
    const own = new UserTransformationSandboxes(TEST_LIMITS);
    const inFlight = runUserTransformation(own, transformation, [trackEvent('stuck', {}, 'never settles')], CONTEXT);
    await new Promise((resolve) => setTimeout(resolve, 50));
    own.dispose();
    await expect(inFlight).rejects.toThrow();
    await expect(runUserTransformation(own, transformation, [trackEvent('late')], CONTEXT)).rejects.toThrow('disposed');
  });
});
