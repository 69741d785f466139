/**
 * The supervisor's decisions as plain data: the pipeline's mode and each destination's circuit
 * breaker, driven by the aggregates workers report every few seconds and by operators. Pure: time is
 * passed in, and every decision comes back as effects for the workflow to carry out.
 */
import type { Alert } from '../control/alert';
import type { HealthReport } from '../control/health';
import type { DestinationState, PipelineMode } from '../control/state';

export type { Alert, HealthReport };

export interface BreakerSettings {
  /** Pause when at least this share of attempts failed... @default 0.5 */
  readonly failureRate: number;
  /** ...out of at least this many attempts... @default 20 */
  readonly minAttempts: number;
  /** ...in this window. @default 60000 */
  readonly windowMs: number;
  /** The first probe goes this long after a pause; each failed probe doubles it. @default 30000 */
  readonly probeAfterMs: number;
}

export interface SupervisorSettings {
  readonly breaker: BreakerSettings;
  /** Per destination id, where the workspace overrides the defaults. */
  readonly breakerOverrides: Readonly<Record<string, Partial<BreakerSettings>>>;
  /** Longest wait between probes. @default 1 hour */
  readonly maxProbeAfterMs: number;
  /** Lanes woken to probe a destination. @default 3 */
  readonly probeLanes: number;
  /** Degrade when Ferry's own code failed this many times (steps, workflow tasks) within `windowMs`. @default 50 */
  readonly selfFailureThreshold: number;
  /** Degrade when this many workers started within `windowMs` (a crash loop). @default 5 */
  readonly workerStartThreshold: number;
  /** The window of those two counts. @default 120000 */
  readonly windowMs: number;
  /** An automatic degraded mode ends after this long without a failure; it doubles each time it recurs. @default 120000 */
  readonly healthyPeriodMs: number;
}

export type Actor = 'operator' | 'auto';

export interface DestinationStatus {
  readonly id: string;
  readonly state: DestinationState;
  readonly by?: Actor;
  readonly reason?: string;
  readonly since?: string;
  readonly nextProbeAt?: string;
  /** Delivery attempts and retryable failures in the breaker's window. */
  readonly recent: { readonly attempts: number; readonly failures: number; readonly windowSeconds: number };
}

export interface SupervisorStatus {
  readonly mode: PipelineMode;
  readonly modeBy?: Actor;
  readonly modeReason?: string;
  readonly modeSince?: string;
  readonly destinations: readonly DestinationStatus[];
  readonly recentSelfFailures: number;
  readonly recentWorkerStarts: number;
}

export type Effect =
  | { readonly type: 'publish' }
  | { readonly type: 'alert'; readonly alert: Alert }
  /** Wake paused lanes: of one destination, or every paused lane; `limit` for probes. */
  | { readonly type: 'wake'; readonly destinationId?: string; readonly limit?: number };

interface Bucket {
  readonly at: number;
  readonly destinations: Map<string, { attempts: number; failures: number }>;
  selfFailures: number;
}

interface Breaker {
  state: DestinationState;
  by: Actor;
  reason?: string;
  since: number;
  cooldownMs: number;
  probeAt?: number;
  probe: { attempts: number; failures: number; since: number };
}

/** Everything carried across continue-as-new. */
export interface SupervisorCarry {
  readonly mode: {
    mode: PipelineMode;
    by: Actor;
    reason?: string;
    since: number;
    healthyPeriodMs: number;
    lastBadAt: number;
    /** Worker starts before this (epoch ms) no longer count: an operator recovered after them. */
    countFrom?: number;
  };
  readonly breakers: ReadonlyArray<readonly [string, Breaker]>;
  readonly buckets: ReadonlyArray<{ at: number; destinations: ReadonlyArray<readonly [string, { attempts: number; failures: number }]>; selfFailures: number }>;
  readonly workerStarts: ReadonlyArray<readonly [string, number]>;
}

const BUCKET_MS = 5_000;
/** A probing destination with no outcome for this long has nothing pending to probe with: it resumes. */
const PROBE_TIMEOUT_MS = 60_000;
const PROBES_TO_RESUME = 2;

export class SupervisorState {
  private mode: SupervisorCarry['mode'];
  private readonly breakers = new Map<string, Breaker>();
  private buckets: Bucket[] = [];
  private readonly workerStarts = new Map<string, number>();

  constructor(
    private readonly settings: SupervisorSettings,
    carry?: SupervisorCarry,
  ) {
    this.mode = carry?.mode ?? { mode: 'normal', by: 'auto', since: 0, healthyPeriodMs: settings.healthyPeriodMs, lastBadAt: 0 };
    for (const [id, breaker] of carry?.breakers ?? []) this.breakers.set(id, { ...breaker, probe: { ...breaker.probe } });
    this.buckets = (carry?.buckets ?? []).map((b) => ({ at: b.at, destinations: new Map(b.destinations.map(([k, v]) => [k, { ...v }])), selfFailures: b.selfFailures }));
    for (const [id, at] of carry?.workerStarts ?? []) this.workerStarts.set(id, at);
  }

  /** Takes a worker's report, then re-evaluates. */
  report(report: HealthReport, now: number): Effect[] {
    const bucket = this.bucket(now);
    for (const [id, counts] of Object.entries(report.destinations)) {
      const into = bucket.destinations.get(id) ?? { attempts: 0, failures: 0 };
      into.attempts += counts.attempts;
      into.failures += counts.failures;
      bucket.destinations.set(id, into);
      const breaker = this.breakers.get(id);
      if (breaker?.state === 'probing') {
        breaker.probe.attempts += counts.attempts;
        breaker.probe.failures += counts.failures;
      }
    }
    bucket.selfFailures += report.selfFailures;
    if (report.selfFailures > 0) this.mode.lastBadAt = now;
    const key = `${report.workerId}@${report.startedAt}`;
    if (!this.workerStarts.has(key)) this.workerStarts.set(key, report.startedAt);
    return this.evaluate(now);
  }

  /** Moves time-driven decisions on: breakers, probes, the healthy period. */
  evaluate(now: number): Effect[] {
    this.prune(now);
    const effects: Effect[] = [];
    this.evaluateMode(now, effects);
    for (const [id, counts] of this.windowCounts(now)) this.evaluateBreaker(id, counts, now, effects);
    for (const [id, breaker] of this.breakers) if (breaker.state !== 'active') this.evaluateBreaker(id, this.windowCount(id, now), now, effects);
    return effects;
  }

  degrade(reason: string, now: number): Effect[] {
    if (this.mode.mode === 'degraded' && this.mode.by === 'operator') return [];
    const effects: Effect[] = [];
    this.enterDegraded('operator', reason, now, effects);
    return effects;
  }

  recover(now: number): Effect[] {
    if (this.mode.mode === 'normal') return [];
    const effects: Effect[] = [];
    this.leaveDegraded('operator', 'recovered by an operator', now, effects);
    return effects;
  }

  pause(destinationId: string, reason: string, now: number): Effect[] {
    const breaker = this.breaker(destinationId, now);
    if (breaker.state === 'paused' && breaker.by === 'operator') return [];
    const effects: Effect[] = [];
    this.pauseBreaker(destinationId, breaker, 'operator', reason, now, effects);
    return effects;
  }

  resume(destinationId: string, now: number): Effect[] {
    const breaker = this.breakers.get(destinationId);
    if (!breaker || breaker.state === 'active') return [];
    const effects: Effect[] = [];
    this.resumeBreaker(destinationId, breaker, 'resumed by an operator', now, effects);
    return effects;
  }

  /** Destinations an operator or the breaker has stopped, for publishing. */
  control(): { mode: PipelineMode; modeReason?: string; destinations: Array<{ id: string; state: DestinationState; reason?: string }> } {
    return {
      mode: this.mode.mode,
      modeReason: this.mode.reason,
      destinations: [...this.breakers].map(([id, b]) => ({ id, state: b.state, reason: b.reason })),
    };
  }

  status(now: number): SupervisorStatus {
    const ids = new Set([...this.breakers.keys(), ...this.buckets.flatMap((b) => [...b.destinations.keys()])]);
    return {
      mode: this.mode.mode,
      ...(this.mode.since ? { modeBy: this.mode.by, modeSince: new Date(this.mode.since).toISOString() } : {}),
      ...(this.mode.reason ? { modeReason: this.mode.reason } : {}),
      destinations: [...ids].sort().map((id): DestinationStatus => {
        const b = this.breakers.get(id);
        const recent = this.windowCount(id, now);
        return {
          id,
          state: b?.state ?? 'active',
          ...(b && b.state !== 'active' ? { by: b.by, reason: b.reason, since: new Date(b.since).toISOString() } : {}),
          ...(b?.probeAt !== undefined && b.state === 'paused' ? { nextProbeAt: new Date(b.probeAt).toISOString() } : {}),
          recent: { ...recent, windowSeconds: Math.round(this.breakerSettings(id).windowMs / 1000) },
        };
      }),
      recentSelfFailures: this.selfFailures(now),
      recentWorkerStarts: this.recentStarts(now),
    };
  }

  carry(now: number): SupervisorCarry {
    this.prune(now);
    return {
      mode: { ...this.mode },
      breakers: [...this.breakers].map(([id, b]) => [id, { ...b, probe: { ...b.probe } }] as const),
      buckets: this.buckets.map((b) => ({ at: b.at, destinations: [...b.destinations].map(([k, v]) => [k, { ...v }] as const), selfFailures: b.selfFailures })),
      workerStarts: [...this.workerStarts],
    };
  }

  private evaluateMode(now: number, effects: Effect[]): void {
    const { selfFailureThreshold, workerStartThreshold } = this.settings;
    if (this.mode.mode === 'normal') {
      const failures = this.selfFailures(now);
      const starts = this.recentStarts(now);
      if (failures >= selfFailureThreshold) this.enterDegraded('auto', `Ferry's own code failed ${failures} times in ${Math.round(this.settings.windowMs / 1000)} s`, now, effects);
      else if (starts >= workerStartThreshold) this.enterDegraded('auto', `workers started ${starts} times in ${Math.round(this.settings.windowMs / 1000)} s (a crash loop)`, now, effects);
      return;
    }
    if (this.mode.by === 'auto' && now - Math.max(this.mode.lastBadAt, this.mode.since) >= this.mode.healthyPeriodMs) {
      this.leaveDegraded('auto', `healthy for ${Math.round(this.mode.healthyPeriodMs / 1000)} s`, now, effects);
    }
  }

  private enterDegraded(by: Actor, reason: string, now: number, effects: Effect[]): void {
    const recurring = this.mode.mode === 'normal' && by === 'auto' && this.mode.since > 0 && now - this.mode.since < 4 * this.mode.healthyPeriodMs;
    const wasDegraded = this.mode.mode === 'degraded';
    this.mode = {
      mode: 'degraded',
      by,
      reason,
      since: now,
      // A degraded mode that comes back soon after it ended waits twice as long before it ends again.
      healthyPeriodMs: recurring ? Math.min(this.mode.healthyPeriodMs * 2, 24 * 3_600_000) : this.mode.healthyPeriodMs,
      lastBadAt: now,
    };
    effects.push({ type: 'publish' });
    if (!wasDegraded) effects.push({ type: 'alert', alert: { kind: 'degraded', dedupKey: 'ferry/pipeline', summary: `Ferry entered degraded mode: ${reason}. Events are stored but not delivered.`, at: now } });
  }

  private leaveDegraded(by: Actor, reason: string, now: number, effects: Effect[]): void {
    this.mode = {
      ...this.mode,
      mode: 'normal',
      by,
      reason: undefined,
      since: now,
      healthyPeriodMs: by === 'operator' ? this.settings.healthyPeriodMs : this.mode.healthyPeriodMs,
      countFrom: by === 'operator' ? now : this.mode.countFrom,
    };
    if (by === 'operator') {
      // An operator who recovers has dealt with the cause: the failures and restarts that led here
      // must not send the pipeline straight back (they are still inside the window).
      for (const bucket of this.buckets) bucket.selfFailures = 0;
    }
    effects.push({ type: 'publish' });
    effects.push({ type: 'alert', alert: { kind: 'recovered', dedupKey: 'ferry/pipeline', summary: `Ferry left degraded mode (${reason}); stored events are delivered in order.`, at: now } });
    effects.push({ type: 'wake' });
  }

  private evaluateBreaker(id: string, counts: { attempts: number; failures: number }, now: number, effects: Effect[]): void {
    const settings = this.breakerSettings(id);
    const breaker = this.breaker(id, now);
    if (breaker.state === 'active') {
      if (counts.attempts >= settings.minAttempts && counts.failures / counts.attempts >= settings.failureRate) {
        const rate = Math.round((counts.failures / counts.attempts) * 100);
        this.pauseBreaker(id, breaker, 'auto', `${rate}% of ${counts.attempts} attempts failed in ${Math.round(settings.windowMs / 1000)} s`, now, effects);
      }
      return;
    }
    if (breaker.by === 'operator') return;
    if (breaker.state === 'paused' && breaker.probeAt !== undefined && now >= breaker.probeAt) {
      breaker.state = 'probing';
      breaker.probe = { attempts: 0, failures: 0, since: now };
      effects.push({ type: 'publish' }, { type: 'wake', destinationId: id, limit: this.settings.probeLanes });
      return;
    }
    if (breaker.state === 'probing') {
      if (breaker.probe.failures > 0) {
        breaker.cooldownMs = Math.min(breaker.cooldownMs * 2, this.settings.maxProbeAfterMs);
        breaker.state = 'paused';
        breaker.probeAt = now + breaker.cooldownMs;
        breaker.reason = `a probe failed; next probe in ${Math.round(breaker.cooldownMs / 1000)} s`;
        effects.push({ type: 'publish' });
      } else if (breaker.probe.attempts - breaker.probe.failures >= PROBES_TO_RESUME || now - breaker.probe.since >= PROBE_TIMEOUT_MS) {
        this.resumeBreaker(id, breaker, breaker.probe.attempts > 0 ? 'probes succeeded' : 'nothing was waiting to probe with', now, effects);
      }
    }
  }

  private pauseBreaker(id: string, breaker: Breaker, by: Actor, reason: string, now: number, effects: Effect[]): void {
    const wasActive = breaker.state === 'active';
    breaker.state = 'paused';
    breaker.by = by;
    breaker.reason = reason;
    breaker.since = now;
    breaker.cooldownMs = this.breakerSettings(id).probeAfterMs;
    breaker.probeAt = by === 'auto' ? now + breaker.cooldownMs : undefined;
    effects.push({ type: 'publish' });
    if (wasActive) effects.push({ type: 'alert', alert: { kind: 'paused', destinationId: id, dedupKey: `ferry/destination/${id}`, summary: `Ferry paused destination ${id}: ${reason}. Its events are held, in order.`, at: now } });
  }

  private resumeBreaker(id: string, breaker: Breaker, reason: string, now: number, effects: Effect[]): void {
    breaker.state = 'active';
    breaker.by = 'auto';
    breaker.reason = undefined;
    breaker.since = now;
    breaker.probeAt = undefined;
    // A fresh window: the failures that paused it must not pause it again at once.
    for (const bucket of this.buckets) bucket.destinations.delete(id);
    effects.push({ type: 'publish' }, { type: 'wake', destinationId: id });
    effects.push({ type: 'alert', alert: { kind: 'resumed', destinationId: id, dedupKey: `ferry/destination/${id}`, summary: `Ferry resumed destination ${id} (${reason}); held events are delivered in order.`, at: now } });
  }

  private breaker(id: string, now: number): Breaker {
    let breaker = this.breakers.get(id);
    if (!breaker) {
      breaker = { state: 'active', by: 'auto', since: now, cooldownMs: this.breakerSettings(id).probeAfterMs, probe: { attempts: 0, failures: 0, since: now } };
      this.breakers.set(id, breaker);
    }
    return breaker;
  }

  private breakerSettings(id: string): BreakerSettings {
    return { ...this.settings.breaker, ...this.settings.breakerOverrides[id] };
  }

  private bucket(now: number): Bucket {
    const at = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    let bucket = this.buckets.at(-1);
    if (!bucket || bucket.at !== at) {
      bucket = { at, destinations: new Map(), selfFailures: 0 };
      this.buckets.push(bucket);
    }
    return bucket;
  }

  private windowCount(id: string, now: number): { attempts: number; failures: number } {
    const from = now - this.breakerSettings(id).windowMs;
    let attempts = 0;
    let failures = 0;
    for (const bucket of this.buckets) {
      if (bucket.at + BUCKET_MS <= from) continue;
      const counts = bucket.destinations.get(id);
      attempts += counts?.attempts ?? 0;
      failures += counts?.failures ?? 0;
    }
    return { attempts, failures };
  }

  /** Each reported destination's counts in its own breaker window. */
  private windowCounts(now: number): Map<string, { attempts: number; failures: number }> {
    const ids = new Set(this.buckets.flatMap((b) => [...b.destinations.keys()]));
    return new Map([...ids].map((id) => [id, this.windowCount(id, now)]));
  }

  private selfFailures(now: number): number {
    return this.buckets.filter((b) => b.at + BUCKET_MS > now - this.settings.windowMs).reduce((n, b) => n + b.selfFailures, 0);
  }

  private recentStarts(now: number): number {
    let starts = 0;
    const from = Math.max(now - this.settings.windowMs, (this.mode.countFrom ?? 0) - 1);
    for (const at of this.workerStarts.values()) if (at > from) starts += 1;
    return starts;
  }

  private prune(now: number): void {
    const longest = Math.max(this.settings.windowMs, this.settings.breaker.windowMs, ...Object.values(this.settings.breakerOverrides).map((o) => o.windowMs ?? 0));
    this.buckets = this.buckets.filter((b) => b.at + BUCKET_MS > now - longest);
    for (const [key, at] of this.workerStarts) if (at <= now - this.settings.windowMs) this.workerStarts.delete(key);
  }
}
