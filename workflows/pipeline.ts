/**
 * The per-user pipeline: one workflow per (source, user), one ordered lane per destination. The relay
 * signals it references to the user's new log rows; each lane step is one local activity that reads
 * those events from the log, transforms them and delivers them. Event payloads never enter history.
 *
 * Retries of deliveries are driven here rather than by Temporal's activity retry policy, so that the
 * workflow knows each lane's attempts and last error (for the query and the search attribute operators
 * filter on), and so that a lane waiting out a long backoff can still continue-as-new.
 */
import {
  type LocalActivityOptions,
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeliveryFailureDetails, ItemResult } from '../activities/contract';
import { DELIVERY_FAILED } from '../activities/contract';
import { searchAttributes } from '../temporal/names';
import { lanesQuery, logSignal, type LogSignalInput } from './definitions';
import { resumeLanesSignal } from './supervisorDefinitions';
import type { PipelineSettings, SettingsActivity } from './settings';
import { PipelineState, type PipelineCarry } from './state';

export interface PipelineArgs {
  readonly sourceId: string;
  readonly userKey: string;
  /** The log bucket the user hashes into: the relay that owns it signals this workflow. */
  readonly bucket: number;
  /** Pending lanes, the dedup window and the applied log position handed over by the previous run. */
  readonly carry?: PipelineCarry;
  /** Oldest logged-at this workflow holds the log for (see holdLog), carried across runs. */
  readonly heldFrom?: number;
  /**
   * Settings from the worker process whose relay started the run. Without them the run asks its
   * worker, one local activity more in its first task; a run continued-as-new always asks, so that a
   * long-lived workflow picks up a changed configuration.
   */
  readonly settings?: PipelineSettings;
}

/**
 * A parked lane looks again after this long even without a wake signal: a safety net for a signal
 * lost with its database row, not the way resumes normally arrive.
 */
const PARKED_RECHECK_MS = 10 * 60_000;

const SELF_FAILURE_RETRY = { initialInterval: '1s', maximumInterval: '60s', backoffCoefficient: 2 } as const;

const settingsActivity = proxyLocalActivities<SettingsActivity>({ startToCloseTimeout: '10s' });
/** Ferry's own bookkeeping; retried until it works, visibly in the UI. */
const bookkeeping = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry: SELF_FAILURE_RETRY });
/**
 * The delivery step is a local activity: its result is recorded in the workflow task that ran it, with
 * no activity task of its own to schedule, start and complete in Temporal. Measured against a regular
 * activity on the same load (bench/e2e burst, 1000 users × 20 events), it delivered in 65 s rather than
 * 80 s. It records each item's outcome in PostgreSQL as it goes, so running it again after a crash sends
 * only what was in flight.
 */
const steps = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } });

export async function pipelineWorkflow(args: PipelineArgs): Promise<void> {
  const settings = args.settings ?? (await settingsActivity.pipelineSettings());
  const pipeline = new Pipeline(args, settings);
  setHandler(logSignal, (input) => pipeline.accept(input));
  setHandler(lanesQuery, () => pipeline.state.snapshot());
  setHandler(resumeLanesSignal, ({ destinationId }) => pipeline.wake(destinationId));
  await pipeline.run();
}

interface LaneFailure {
  readonly results: readonly ItemResult[];
  readonly messageId?: string;
  readonly error: string;
  readonly status?: number;
  readonly retryInMs: number;
  readonly failedAt: number;
  /** False for failures that are not the destination's answer: they do not use up its retry budget. */
  readonly counts: boolean;
}

class Pipeline {
  readonly state: PipelineState;
  private readonly running = new Map<string, Promise<void>>();
  /** Failures of Ferry's own (not the destination's answer) in a row, per lane, for their backoff. */
  private readonly selfFailures = new Map<string, number>();
  private signals = 0;
  private rolling = false;
  private stuck: string[] = [];
  private heldFrom: number | undefined;
  /** Lanes parked on a pause, with its reason; `woken` holds those the supervisor told to look again. */
  private readonly parked = new Map<string, string>();
  private readonly woken = new Set<string>();
  private pausedShown: string[] = [];
  private readonly stepOptions: LocalActivityOptions;

  constructor(
    private readonly args: PipelineArgs,
    private readonly settings: PipelineSettings,
  ) {
    this.state = new PipelineState({ windowMs: settings.dedupWindowMs, maxEntries: settings.dedupMaxEntries }, args.carry);
    this.heldFrom = args.heldFrom;
    this.stepOptions = { startToCloseTimeout: settings.deliverTimeoutMs, retry: { maximumAttempts: 1 } };
  }

  accept(input: LogSignalInput): void {
    this.signals += 1;
    this.state.accept(input, Date.now());
    this.startLanes();
    this.publish();
  }

  /** The supervisor lifted a pause: of one destination, or of all (leaving degraded mode). */
  wake(destinationId?: string): void {
    if (destinationId !== undefined) this.woken.add(destinationId);
    else for (const id of this.parked.keys()) this.woken.add(id);
  }

  async run(): Promise<void> {
    this.startLanes();
    this.publish();
    for (;;) {
      await condition(() => this.shouldRoll() || (this.running.size === 0 && !this.state.hasWork()));
      if (this.shouldRoll()) break;
      const woke = await condition(() => this.shouldRoll() || this.state.hasWork(), this.settings.idleTimeoutMs);
      if (woke) {
        this.startLanes();
        continue;
      }
      // Idle. Finish only once no relay can send this run's rows again: a relay that crashed between
      // a signal and moving its cursor sends them again, and a new run would not know them.
      const signalsBefore = this.signals;
      const settled = await bookkeeping.releaseLog({ workflowId: workflowInfo().workflowId, bucket: this.args.bucket, applied: this.state.appliedPosition() });
      // A signal that arrived while the release ran is not covered by it, and its events may still be
      // pending: finishing now would drop them. Look again once they are delivered.
      if (settled && this.signals === signalsBefore) return;
    }
    this.rolling = true;
    await condition(() => this.running.size === 0 && allHandlersFinished());
    await continueAsNew<typeof pipelineWorkflow>({ ...this.args, carry: this.state.carry(Date.now()), heldFrom: this.heldFrom, settings: undefined });
  }

  private shouldRoll(): boolean {
    const info = workflowInfo();
    return (
      this.signals >= this.settings.continueAsNewAfterSignals ||
      info.continueAsNewSuggested ||
      info.historyLength >= this.settings.continueAsNewAfterEvents
    );
  }

  private startLanes(): void {
    if (this.rolling) return;
    for (const destinationId of this.state.laneIdsWithWork()) {
      if (this.running.has(destinationId)) continue;
      this.running.set(
        destinationId,
        this.runLane(destinationId).finally(() => this.running.delete(destinationId)),
      );
    }
  }

  private async runLane(destinationId: string): Promise<void> {
    const { sourceId } = this.args;
    const { workflowId } = workflowInfo();
    // A lane stops at a step boundary once the run is due to continue-as-new; its queue is carried over.
    while (!this.rolling && !this.shouldRoll()) {
      const wait = this.state.retryWaitMs(destinationId, Date.now());
      if (wait > 0) {
        // Most waits hold nothing: no call, and no promise (each costs the sandbox a stack trace).
        if (this.needsHold(wait)) await this.holdLog();
        // Wakes early when the run must continue-as-new; the backoff carries over to the next run.
        await condition(() => this.shouldRoll(), wait);
        continue;
      }
      const items = this.state.head(destinationId, this.settings.maxBatchSize);
      if (items.length === 0) return;
      const headAttempts = items[0]?.attempts ?? 0;
      try {
        const { results, paused } = await steps.deliverStep.executeWithOptions(
          { ...this.stepOptions, summary: `deliver ${items.length} event(s) → ${destinationId}${headAttempts > 0 ? ` (attempt ${headAttempts + 1})` : ''}` },
          [{ sourceId, workflowId, destinationId, items }],
        );
        this.state.applyResults(destinationId, results);
        this.selfFailures.delete(destinationId);
        if (paused) {
          await this.park(destinationId, paused.reason);
          continue;
        }
      } catch (err) {
        const failure = this.describeFailure(destinationId, err);
        this.state.applyResults(destinationId, failure.results);
        // From when the step failed by the worker's clock: a local activity's result can arrive while
        // workflow time still stands at the start of the task, which would cut the backoff short.
        this.state.recordFailure(destinationId, { ...failure, retryAt: Math.max(Date.now(), failure.failedAt) + failure.retryInMs });
      }
      if (this.heldFrom !== undefined) await this.updateHold();
      this.publish();
    }
  }

  /**
   * Waits, without timers firing or activities running, until the supervisor wakes the lane (the step
   * registered it in paused_lanes) or the run must continue-as-new. The next step looks again.
   */
  private async park(destinationId: string, reason: string): Promise<void> {
    const since = Date.now();
    // A wake that arrived before this (the pause was lifted while the step returned) counts: at worst
    // the next step finds the destination still paused and parks again.
    this.parked.set(destinationId, reason);
    this.publish();
    await condition(() => this.woken.has(destinationId) || this.shouldRoll(), PARKED_RECHECK_MS);
    this.woken.delete(destinationId);
    this.parked.delete(destinationId);
    this.state.extendRetryWindow(destinationId, Date.now() - since);
    this.publish();
  }

  private describeFailure(destinationId: string, err: unknown): LaneFailure {
    // A local activity's failure arrives as the ApplicationFailure itself, a regular activity's as its cause.
    const failure = err instanceof ActivityFailure ? err.cause : err;
    if (failure instanceof ApplicationFailure && failure.type === DELIVERY_FAILED) {
      const details = failure.details?.[0] as DeliveryFailureDetails | undefined;
      if (details) return { ...details, counts: true };
    }
    // Not the destination's answer: a timeout (e.g. a step cut short), Ferry's database away, a bug.
    const failures = (this.selfFailures.get(destinationId) ?? 0) + 1;
    this.selfFailures.set(destinationId, failures);
    const { initialMs, maxMs } = this.settings.failureBackoff;
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
    return {
      results: [],
      error: cause instanceof Error ? cause.message : String(cause),
      retryInMs: Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 20)),
      failedAt: Date.now(),
      counts: false,
    };
  }

  /**
   * Whether, before a wait, the log needs a hold from the oldest pending event: when by the wait's end
   * that event will be older than logHoldAfterMs. Retention then keeps it until it is delivered.
   */
  private needsHold(waitMs: number): boolean {
    const oldest = this.state.oldestPendingLoggedAt();
    return oldest !== undefined && oldest !== this.heldFrom && Date.now() + waitMs - oldest >= this.settings.logHoldAfterMs;
  }

  private async holdLog(): Promise<void> {
    const oldest = this.state.oldestPendingLoggedAt();
    await bookkeeping.holdLog({ workflowId: workflowInfo().workflowId, oldestLoggedAt: oldest });
    this.heldFrom = oldest;
  }

  /** Moves or drops a hold once the events it was for are delivered. */
  private async updateHold(): Promise<void> {
    if (this.heldFrom === undefined) return;
    const oldest = this.state.oldestPendingLoggedAt();
    if (oldest === this.heldFrom) return;
    if (oldest !== undefined && Date.now() - oldest >= this.settings.logHoldAfterMs) {
      await bookkeeping.holdLog({ workflowId: workflowInfo().workflowId, oldestLoggedAt: oldest });
      this.heldFrom = oldest;
      return;
    }
    await bookkeeping.holdLog({ workflowId: workflowInfo().workflowId });
    this.heldFrom = undefined;
  }

  /** Keeps the operator-facing views in step: the stuck-destinations search attribute and the UI details. */
  private publish(): void {
    const stuck = this.state.stuckDestinations();
    if (stuck.join('\n') !== this.stuck.join('\n')) {
      this.stuck = stuck;
      upsertSearchAttributes([{ key: searchAttributes.stuckDestinations, value: stuck.length > 0 ? stuck : null }]);
    }
    const paused = [...this.parked.keys()].sort();
    if (paused.join('\n') !== this.pausedShown.join('\n')) {
      this.pausedShown = paused;
      upsertSearchAttributes([{ key: searchAttributes.pausedDestinations, value: paused.length > 0 ? paused : null }]);
    }
    const lines = this.state.snapshot().map((lane) => {
      const pausedBy = this.parked.get(lane.destinationId);
      const problem =
        pausedBy !== undefined ? ` — paused: ${pausedBy}` : lane.lastError !== undefined ? ` — retrying (attempt ${lane.attempts}): ${lane.lastError}` : '';
      return `- **${lane.destinationId}**: ${lane.depth} pending, ${lane.delivered} delivered, ${lane.aborted} aborted, ${lane.filtered} filtered${problem}`;
    });
    setCurrentDetails(`**Ferry pipeline** ${this.args.sourceId} / ${this.args.userKey}\n\n${lines.join('\n')}`);
  }
}
