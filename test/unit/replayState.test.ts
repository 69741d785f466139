/**
 * A replay job's bookkeeping as pure data: pacing across lanes, progress and its ETA, and what carries
 * over continue-as-new.
 */
import type { ReplayArgs } from '../../workflows/replayDefinitions';
import { ReplayJob } from '../../workflows/replayState';

const T0 = 1_800_000_000_000;
const ARGS: ReplayArgs = {
  request: { kind: 'replay', sourceId: 'web', destinationIds: ['hook'], from: T0 - 3_600_000, to: T0 },
  pacing: { eventsPerSecond: 10, maxLiveBacklog: 1_000 },
};
const delivered = (n: number) => Array.from({ length: n }, (_, i) => ({ messageId: `m${i}`, outcome: 'delivered' as const }));

describe('a replay job', () => {
  it('spaces sends at its rate, whichever lanes ask', () => {
    const job = new ReplayJob(ARGS, T0);
    // Three lanes ask at once: 5 events, then 10, then 1, at 10 events/s.
    expect([job.delayFor(5, T0), job.delayFor(10, T0), job.delayFor(1, T0)]).toEqual([0, 500, 1_500]);
    // After a quiet spell, it does not send a burst to catch up.
    expect(job.delayFor(1, T0 + 60_000)).toBe(0);
    expect(job.delayFor(1, T0 + 60_000)).toBe(100);
  });

  it('reports progress, rate and ETA, and completes', () => {
    const job = new ReplayJob(ARGS, T0);
    expect(job.progress(T0)).toMatchObject({ kind: 'replay', status: 'planning', total: 0, done: 0 });
    job.planned(100);
    job.settled([...delivered(20), { messageId: 'x', outcome: 'filtered', reason: 'no match' }, { messageId: 'y', outcome: 'aborted', stage: 'deliver', reason: '400', attempts: 1 }]);
    expect(job.progress(T0 + 11_000)).toEqual({
      kind: 'replay',
      status: 'running',
      total: 100,
      done: 22,
      counts: { delivered: 20, filtered: 1, aborted: 1 },
      startedAt: new Date(T0).toISOString(),
      ratePerSecond: 2,
      etaSeconds: 39,
    });
    job.waiting('destination hook is paused');
    expect(job.progress(T0 + 11_000)).toMatchObject({ status: 'waiting', waitingFor: 'destination hook is paused' });
    job.running();
    job.completed();
    const done = job.progress(T0 + 12_000);
    expect(done).toMatchObject({ status: 'completed', done: 22 });
    expect(done.etaSeconds).toBeUndefined();
  });

  it('carries its counts, cursor and start across continue-as-new', () => {
    const job = new ReplayJob(ARGS, T0);
    job.planned(50);
    job.settled(delivered(7));
    job.advance({ xid: '812', seq: 4_021 });
    const next = new ReplayJob({ ...ARGS, carry: job.carry() }, T0 + 30_000);
    expect(next.cursor).toEqual({ xid: '812', seq: 4_021 });
    expect(next.progress(T0 + 35_000)).toMatchObject({ status: 'running', total: 50, done: 7, startedAt: new Date(T0).toISOString(), ratePerSecond: 0.2 });
  });
});
