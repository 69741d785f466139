/**
 * What this worker knows of its lanes' backlog: the items each lane's last delivery step was given and
 * did not settle (still in the step, waiting for a retry, or parked by a pause). A lane's full queue
 * lives in its workflow; the step sees only its head, up to FERRY_MAX_BATCH_SIZE items, so the figure
 * is a lower bound that reads high whenever destinations fall behind.
 */

interface Lane {
  readonly destinationId: string;
  pending: number;
  seenAt: number;
}

export interface LaneBacklogOptions {
  /**
   * A lane not stepped for this long is forgotten: its workflow went to another worker, or finished.
   * Longer than the longest retry backoff. @default 30 minutes
   */
  readonly forgetAfterMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export class LaneBacklog {
  private readonly lanes = new Map<string, Lane>();
  private readonly forgetAfterMs: number;
  private readonly now: () => number;

  constructor({ forgetAfterMs = 30 * 60_000, now = Date.now }: LaneBacklogOptions = {}) {
    this.forgetAfterMs = forgetAfterMs;
    this.now = now;
  }

  /** The lane's pending items now: at the start of a step its head, after it what the step left. */
  set(workflowId: string, destinationId: string, pending: number): void {
    const key = `${workflowId}\0${destinationId}`;
    if (pending <= 0) this.lanes.delete(key);
    else this.lanes.set(key, { destinationId, pending, seenAt: this.now() });
  }

  /** Pending items by destination; forgets lanes not seen for forgetAfterMs. */
  byDestination(): Map<string, number> {
    const cutoff = this.now() - this.forgetAfterMs;
    const totals = new Map<string, number>();
    for (const [key, lane] of this.lanes) {
      if (lane.seenAt < cutoff) {
        this.lanes.delete(key);
        continue;
      }
      totals.set(lane.destinationId, (totals.get(lane.destinationId) ?? 0) + lane.pending);
    }
    return totals;
  }
}
