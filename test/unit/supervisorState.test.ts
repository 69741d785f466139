/**
 * The supervisor's decisions as pure data: the circuit breaker, probes, degraded mode and its healthy
 * period, operators' commands, and the hand-over across continue-as-new.
 */
import { SupervisorState, type Effect, type SupervisorSettings } from '../../workflows/supervisorState';

const SETTINGS: SupervisorSettings = {
  breaker: { failureRate: 0.5, minAttempts: 20, windowMs: 60_000, probeAfterMs: 30_000 },
  breakerOverrides: { strict: { minAttempts: 4 } },
  maxProbeAfterMs: 100_000,
  probeLanes: 3,
  selfFailureThreshold: 10,
  workerStartThreshold: 3,
  windowMs: 120_000,
  healthyPeriodMs: 60_000,
};

const T0 = 1_800_000_000_000;

function report(destinations: Record<string, { attempts: number; failures: number }>, extra: { selfFailures?: number; workerId?: string; startedAt?: number } = {}) {
  return { workerId: extra.workerId ?? 'w1', startedAt: extra.startedAt ?? T0 - 1_000, destinations, selfFailures: extra.selfFailures ?? 0 };
}

const kinds = (effects: Effect[]) => effects.map((e) => (e.type === 'alert' ? `alert:${e.alert.kind}` : e.type === 'wake' ? `wake:${e.destinationId ?? 'all'}${e.limit ? `/${e.limit}` : ''}` : e.type));
const stateOf = (s: SupervisorState, id: string, now: number) => s.status(now).destinations.find((d) => d.id === id)?.state ?? 'active';

describe('the circuit breaker', () => {
  test.each([
    { id: 'below-volume', description: 'all 19 attempts failed: below the minimum volume', attempts: 19, failures: 19, destination: 'hook', paused: false },
    { id: 'below-rate', description: '9 of 20 failed: under half', attempts: 20, failures: 9, destination: 'hook', paused: false },
    { id: 'at-threshold', description: '10 of 20 failed: half', attempts: 20, failures: 10, destination: 'hook', paused: true },
    { id: 'override', description: 'a workspace override lowers the volume to 4', attempts: 4, failures: 4, destination: 'strict', paused: true },
  ])('$id: $description', ({ attempts, failures, destination, paused }) => {
    const state = new SupervisorState(SETTINGS);
    const effects = state.report(report({ [destination]: { attempts, failures } }), T0);
    expect(stateOf(state, destination, T0)).toBe(paused ? 'paused' : 'active');
    expect(kinds(effects).includes('alert:paused')).toBe(paused);
  });

  it('forgets failures older than its window', () => {
    const state = new SupervisorState(SETTINGS);
    state.report(report({ hook: { attempts: 15, failures: 15 } }), T0);
    state.report(report({ hook: { attempts: 5, failures: 5 } }), T0 + 70_000);
    expect(stateOf(state, 'hook', T0 + 70_000)).toBe('active');
  });

  it('probes after the cool-down, doubles it when a probe fails, and resumes on two successes', () => {
    const state = new SupervisorState(SETTINGS);
    state.report(report({ hook: { attempts: 20, failures: 20 } }), T0);
    expect(kinds(state.evaluate(T0 + 29_000))).toEqual([]);
    expect(kinds(state.evaluate(T0 + 30_000))).toEqual(['publish', 'wake:hook/3']);
    expect(stateOf(state, 'hook', T0 + 30_000)).toBe('probing');
    state.report(report({ hook: { attempts: 1, failures: 1 } }), T0 + 31_000);
    expect(stateOf(state, 'hook', T0 + 31_000)).toBe('paused');
    expect(state.status(T0 + 31_000).destinations[0]!.nextProbeAt).toBe(new Date(T0 + 31_000 + 60_000).toISOString());
    state.evaluate(T0 + 91_000);
    const effects = state.report(report({ hook: { attempts: 2, failures: 0 } }), T0 + 92_000);
    expect(kinds(effects)).toEqual(['publish', 'wake:hook', 'alert:resumed']);
    expect(stateOf(state, 'hook', T0 + 92_000)).toBe('active');
    // The failures that paused it do not pause it again.
    state.report(report({ hook: { attempts: 1, failures: 0 } }), T0 + 93_000);
    expect(stateOf(state, 'hook', T0 + 93_000)).toBe('active');
  });

  it('never probes an operator\'s pause, and resumes it only on command', () => {
    const state = new SupervisorState(SETTINGS);
    expect(kinds(state.pause('hook', 'maintenance', T0))).toEqual(['publish', 'alert:paused']);
    expect(kinds(state.evaluate(T0 + 10 * 60_000))).toEqual([]);
    expect(state.status(T0).destinations[0]).toMatchObject({ state: 'paused', by: 'operator', reason: 'maintenance' });
    expect(kinds(state.resume('hook', T0 + 11 * 60_000))).toEqual(['publish', 'wake:hook', 'alert:resumed']);
    expect(kinds(state.resume('hook', T0 + 11 * 60_000))).toEqual([]);
  });
});

describe('degraded mode', () => {
  it('enters when Ferry\'s own failures reach the threshold, and leaves after a healthy period', () => {
    const state = new SupervisorState(SETTINGS);
    expect(kinds(state.report(report({}, { selfFailures: 9 }), T0))).toEqual([]);
    expect(kinds(state.report(report({}, { selfFailures: 1 }), T0 + 1_000))).toEqual(['publish', 'alert:degraded']);
    expect(state.status(T0 + 1_000)).toMatchObject({ mode: 'degraded', modeBy: 'auto' });
    expect(kinds(state.evaluate(T0 + 60_000))).toEqual([]);
    expect(kinds(state.evaluate(T0 + 61_000))).toEqual(['publish', 'alert:recovered', 'wake:all']);
    expect(state.status(T0 + 61_000).mode).toBe('normal');
  });

  it('enters on a crash loop: workers starting again and again', () => {
    const state = new SupervisorState(SETTINGS);
    state.report(report({}, { workerId: 'w', startedAt: T0 }), T0);
    state.report(report({}, { workerId: 'w', startedAt: T0 + 10_000 }), T0 + 10_000);
    const effects = state.report(report({}, { workerId: 'w', startedAt: T0 + 20_000 }), T0 + 20_000);
    expect(kinds(effects)).toContain('alert:degraded');
    expect(state.status(T0 + 20_000).modeReason).toContain('crash loop');
  });

  it('waits twice as long when it comes back soon after it ended', () => {
    const state = new SupervisorState(SETTINGS);
    state.report(report({}, { selfFailures: 10 }), T0);
    state.evaluate(T0 + 60_000);
    state.report(report({}, { selfFailures: 10 }), T0 + 70_000);
    expect(kinds(state.evaluate(T0 + 70_000 + 60_000))).toEqual([]);
    expect(kinds(state.evaluate(T0 + 70_000 + 120_000))).toContain('alert:recovered');
  });

  it('lasts until recovered when an operator entered it', () => {
    const state = new SupervisorState(SETTINGS);
    expect(kinds(state.degrade('migration', T0))).toEqual(['publish', 'alert:degraded']);
    expect(kinds(state.evaluate(T0 + 24 * 3_600_000))).toEqual([]);
    expect(kinds(state.recover(T0 + 24 * 3_600_000))).toEqual(['publish', 'alert:recovered', 'wake:all']);
  });

  it('forgets, once an operator recovers, the failures and restarts that led to the degraded mode', () => {
    const state = new SupervisorState(SETTINGS);
    state.report(report({}, { selfFailures: 10 }), T0);
    state.report(report({}, { workerId: 'a', startedAt: T0 + 1_000 }), T0 + 1_000);
    state.report(report({}, { workerId: 'b', startedAt: T0 + 2_000 }), T0 + 2_000);
    expect(state.status(T0 + 2_000).mode).toBe('degraded');
    expect(kinds(state.recover(T0 + 5_000))).toContain('alert:recovered');
    // Both counts are still inside the window, but they are what the operator dealt with.
    expect(kinds(state.report(report({}, { workerId: 'b', startedAt: T0 + 2_000 }), T0 + 6_000))).toEqual([]);
    expect(state.status(T0 + 6_000)).toMatchObject({ mode: 'normal', recentSelfFailures: 0, recentWorkerStarts: 0 });
    // New failures after the recovery count again.
    expect(kinds(state.report(report({}, { selfFailures: 10 }), T0 + 7_000))).toContain('alert:degraded');
  });

  it('carries its state across continue-as-new', () => {
    const state = new SupervisorState(SETTINGS);
    state.pause('hook', 'maintenance', T0);
    state.report(report({ other: { attempts: 10, failures: 10 } }), T0);
    const next = new SupervisorState(SETTINGS, JSON.parse(JSON.stringify(state.carry(T0 + 1_000))));
    expect(next.status(T0 + 1_000)).toEqual(state.status(T0 + 1_000));
    next.report(report({ other: { attempts: 10, failures: 10 } }), T0 + 2_000);
    expect(stateOf(next, 'other', T0 + 2_000)).toBe('paused');
  });
});
