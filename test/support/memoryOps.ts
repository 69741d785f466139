/**
 * SupervisorOps in memory, for the CLI's and the admin API's tests: it keeps real state (the mode,
 * each destination's pause) the way the supervisor does, refuses unknown destination ids before
 * changing anything, and can be switched to fail like an unreachable supervisor.
 */
import type { PipelineMode } from '../../control/state';
import { SupervisorUnavailableError, UnknownDestinationError, type FerryStatus, type StuckUser, type SupervisorOps } from '../../ops/supervisorClient';

/** What an unreachable supervisor's error carries; neither the API nor the CLI's JSON may show it. */
export const UNAVAILABLE_INTERNALS = 'connect ECONNREFUSED 10.11.12.13:7233 (temporal-frontend.internal)';

export class MemoryOps implements SupervisorOps {
  mode: PipelineMode = 'normal';
  modeReason?: string;
  modeSince?: string;
  readonly paused = new Map<string, { reason?: string; since: string }>();
  /** Users stuck per destination id, as stuck() lists them. */
  readonly stuckUsers = new Map<string, StuckUser[]>();
  /** While true, every operation fails as an unreachable supervisor does. */
  unavailable = false;
  /** Every operation called, in order, e.g. `pause(a,b)`. */
  readonly calls: string[] = [];

  constructor(
    readonly destinationIds: readonly string[],
    private readonly now: () => Date = () => new Date('2026-01-02T03:04:05.000Z'),
  ) {}

  async status(): Promise<FerryStatus> {
    this.record('status()');
    return this.snapshot();
  }

  async degrade(reason?: string): Promise<FerryStatus> {
    this.record(`degrade(${reason ?? ''})`);
    this.mode = 'degraded';
    this.modeReason = reason;
    this.modeSince = this.now().toISOString();
    return this.snapshot();
  }

  async recover(): Promise<FerryStatus> {
    this.record('recover()');
    this.mode = 'normal';
    this.modeReason = undefined;
    this.modeSince = this.now().toISOString();
    return this.snapshot();
  }

  async pause(destinations: readonly string[] | 'all', reason?: string): Promise<FerryStatus> {
    const ids = this.checked(destinations);
    this.record(`pause(${ids.join(',')})`);
    for (const id of ids) this.paused.set(id, { ...(reason === undefined ? {} : { reason }), since: this.now().toISOString() });
    return this.snapshot();
  }

  async resume(destinations: readonly string[] | 'all'): Promise<FerryStatus> {
    const ids = this.checked(destinations);
    this.record(`resume(${ids.join(',')})`);
    for (const id of ids) this.paused.delete(id);
    return this.snapshot();
  }

  async stuck(destinationId: string, { limit = 100 }: { limit?: number } = {}): Promise<StuckUser[]> {
    this.checked([destinationId]);
    this.record(`stuck(${destinationId},${limit})`);
    return (this.stuckUsers.get(destinationId) ?? []).slice(0, limit);
  }

  /** Fails first when unavailable (nothing is known), then on an unknown id (nothing changes). */
  private checked(destinations: readonly string[] | 'all'): string[] {
    this.failIfUnavailable();
    if (destinations === 'all') return [...this.destinationIds];
    for (const id of destinations) if (!this.destinationIds.includes(id)) throw new UnknownDestinationError(id);
    return [...new Set(destinations)];
  }

  private record(call: string): void {
    this.failIfUnavailable();
    this.calls.push(call);
  }

  private failIfUnavailable(): void {
    if (this.unavailable) throw new SupervisorUnavailableError(`the supervisor did not answer: ${UNAVAILABLE_INTERNALS}`);
  }

  private snapshot(): FerryStatus {
    return {
      mode: this.mode,
      ...(this.mode === 'degraded' ? { modeBy: 'operator' as const } : {}),
      ...(this.modeReason ? { modeReason: this.modeReason } : {}),
      ...(this.modeSince ? { modeSince: this.modeSince } : {}),
      destinations: [...this.destinationIds].sort().map((id) => {
        const pause = this.paused.get(id);
        return {
          id,
          state: pause ? ('paused' as const) : ('active' as const),
          ...(pause ? { by: 'operator' as const, since: pause.since, ...(pause.reason ? { reason: pause.reason } : {}) } : {}),
          recent: { attempts: pause ? 0 : 12, failures: 0, windowSeconds: 60 },
        };
      }),
      backlog: { unrelayedRows: 0, relays: 1 },
      recentSelfFailures: 0,
      recentWorkerStarts: 0,
    };
  }
}
