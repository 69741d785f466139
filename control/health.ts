/** What each worker reports to the supervisor every few seconds: cheap aggregates, never per event. */

export interface HealthReport {
  readonly workerId: string;
  /** When the worker process started, epoch ms: a value the supervisor has not seen is a (re)start. */
  readonly startedAt: number;
  /** Delivery attempts per destination id since the last report; `failures` are retryable ones (5xx, 429, network). */
  readonly destinations: Readonly<Record<string, { readonly attempts: number; readonly failures: number }>>;
  /** Failures of Ferry's own since the last report: delivery steps that threw (not a destination's answer), failed workflow tasks. */
  readonly selfFailures: number;
}

/**
 * A worker's running counts, drained into a HealthReport every few seconds. Counting is a map
 * update: the delivery path pays nothing more for it.
 */
export class HealthCounters {
  private destinations = new Map<string, { attempts: number; failures: number }>();
  private selfFailures = 0;

  /** One delivery attempt; `failed` for a retryable failure (5xx, 408, 429, network). */
  attempt(destinationId: string, failed: boolean): void {
    const counts = this.destinations.get(destinationId) ?? { attempts: 0, failures: 0 };
    counts.attempts += 1;
    if (failed) counts.failures += 1;
    this.destinations.set(destinationId, counts);
  }

  /** A failure of Ferry's own: a delivery step that threw for a reason other than the destination's answer, or a failed workflow task. */
  selfFailure(): void {
    this.selfFailures += 1;
  }

  /** The counts since the last drain, reset. */
  drain(workerId: string, startedAt: number): HealthReport {
    const report: HealthReport = { workerId, startedAt, destinations: Object.fromEntries(this.destinations), selfFailures: this.selfFailures };
    this.destinations = new Map();
    this.selfFailures = 0;
    return report;
  }

  /** Puts a report that could not be sent back, so its counts go with the next one. */
  restore(report: HealthReport): void {
    for (const [id, counts] of Object.entries(report.destinations)) {
      const into = this.destinations.get(id) ?? { attempts: 0, failures: 0 };
      into.attempts += counts.attempts;
      into.failures += counts.failures;
      this.destinations.set(id, into);
    }
    this.selfFailures += report.selfFailures;
  }
}
