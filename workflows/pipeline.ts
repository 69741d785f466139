/**
 * The per-user pipeline: one workflow per (source, user), one ordered lane per destination.
 *
 * Retries of deliveries are driven here rather than by Temporal's activity retry policy, so that the
 * workflow knows each lane's attempts and last error (for the query and the search attribute operators
 * filter on), and so that a lane waiting out a long backoff can still continue-as-new.
 */
import {
  type ActivityOptions,
  type LocalActivityOptions,
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeadLetterEntry, DeliveryFailureDetails, ItemResult } from '../activities/contract';
import type { PipelineSettings, SettingsActivity } from './settings';
import { DELIVERY_FAILED } from '../activities/contract';
import { searchAttributes } from '../temporal/names';
import { eventsSignal, lanesQuery } from './definitions';
import { PipelineState, type PipelineCarry } from './state';

export interface PipelineArgs {
  readonly sourceId: string;
  readonly userKey: string;
  /** Pending lanes and the dedup window handed over by the previous run. */
  readonly carry?: PipelineCarry;
}

const SELF_FAILURE_RETRY = { initialInterval: '1s', maximumInterval: '60s', backoffCoefficient: 2 } as const;

/**
 * Transform runs as a local activity: it is CPU work in the worker with no side effects, so it needs
 * no task queue round trip through the server, only a marker in history. That cuts the server work
 * per lane step by about a third. Deliver stays a regular activity: it has side effects and may run long.
 * Options of transform and deliver are set per call (see Pipeline.stepOptions); these are the defaults.
 */
const localActivities = proxyLocalActivities<Activities & SettingsActivity>({ startToCloseTimeout: '10s' });
const activities = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: SELF_FAILURE_RETRY });

export async function pipelineWorkflow(args: PipelineArgs): Promise<void> {
  const settings = await localActivities.pipelineSettings();
  const pipeline = new Pipeline(args, settings);
  setHandler(eventsSignal, ({ events }) => pipeline.accept(events));
  setHandler(lanesQuery, () => pipeline.state.snapshot());
  await pipeline.run();
}

interface LaneFailure {
  readonly results: readonly ItemResult[];
  readonly messageId?: string;
  readonly error: string;
  readonly status?: number;
  readonly retryInMs: number;
  readonly failedAt: number;
}

class Pipeline {
  readonly state: PipelineState;
  private readonly running = new Map<string, Promise<void>>();
  private signals = 0;
  private rolling = false;
  private stuck: string[] = [];
  private readonly stepOptions: { readonly transform: LocalActivityOptions; readonly deliver: ActivityOptions };

  constructor(
    private readonly args: PipelineArgs,
    private readonly settings: PipelineSettings,
  ) {
    this.state = new PipelineState(
      { windowMs: settings.dedupWindowMs, maxEntries: settings.dedupMaxEntries },
      args.carry,
    );
    this.stepOptions = {
      transform: {
        startToCloseTimeout: settings.transformTimeoutMs,
        // A transform only fails like this when Ferry itself is broken; keep retrying, visibly in the UI.
        retry: SELF_FAILURE_RETRY,
      },
      deliver: { startToCloseTimeout: settings.deliverTimeoutMs, retry: { maximumAttempts: 1 } },
    };
  }

  accept(events: Parameters<PipelineState['accept']>[0]): void {
    this.signals += 1;
    this.state.accept(events, Date.now());
    this.startLanes();
    this.publish();
  }

  async run(): Promise<void> {
    this.startLanes();
    this.publish();
    for (;;) {
      await condition(() => this.shouldRoll() || (this.running.size === 0 && !this.state.hasWork()));
      if (this.shouldRoll()) break;
      const woke = await condition(() => this.shouldRoll() || this.state.hasWork(), this.settings.idleTimeoutMs);
      if (!woke) return;
      this.startLanes();
    }
    this.rolling = true;
    await condition(() => this.running.size === 0 && allHandlersFinished());
    await continueAsNew<typeof pipelineWorkflow>({ ...this.args, carry: this.state.carry(Date.now()) });
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
    const max = this.settings.maxBatchSize;
    // A lane stops at a step boundary once the run is due to continue-as-new; its queue is carried over.
    while (!this.rolling && !this.shouldRoll()) {
      const wait = this.state.retryWaitMs(destinationId, Date.now());
      if (wait > 0) {
        // Wakes early when the run must continue-as-new; the backoff carries over to the next run.
        await condition(() => this.shouldRoll(), wait);
        continue;
      }
      const toTransform = this.state.untransformedHead(destinationId, max);
      if (toTransform.length > 0) {
        const outcomes = await localActivities.transform.executeWithOptions(
          { ...this.stepOptions.transform, summary: `transform ${toTransform.length} event(s) → ${destinationId}` },
          [{ sourceId, destinationId, events: toTransform }],
        );
        await this.deadLetter(destinationId, this.state.applyTransform(destinationId, outcomes));
        continue;
      }
      const items = this.state.deliverableHead(destinationId, max);
      if (items.length === 0) return;
      try {
        const { results } = await activities.deliver.executeWithOptions(
          this.deliverOptions(destinationId, items.length, items[0]?.attempts ?? 0),
          [{ sourceId, workflowId: workflowInfo().workflowId, destinationId, items }],
        );
        await this.deadLetter(destinationId, this.state.applyResults(destinationId, results));
        this.publish();
      } catch (err) {
        const failure = this.describeFailure(err, items[0]?.attempts ?? 0);
        await this.deadLetter(destinationId, this.state.applyResults(destinationId, failure.results));
        this.state.recordFailure(destinationId, { ...failure, retryAt: Date.now() + failure.retryInMs });
        this.publish();
      }
    }
  }

  private deliverOptions(destinationId: string, count: number, attempts: number): ActivityOptions {
    const retryNote = attempts > 0 ? ` (attempt ${attempts + 1})` : '';
    return { ...this.stepOptions.deliver, summary: `deliver ${count} event(s) → ${destinationId}${retryNote}` };
  }

  private describeFailure(err: unknown, headAttempts: number): LaneFailure {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === DELIVERY_FAILED) {
      const details = err.cause.details?.[0] as DeliveryFailureDetails | undefined;
      if (details) return details;
    }
    // Not the destination's answer: a timeout (e.g. the worker died mid-call) or a bug in Ferry.
    const { initialMs, maxMs } = this.settings.failureBackoff;
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
    return {
      results: [],
      error: cause instanceof Error ? cause.message : String(cause),
      retryInMs: Math.min(maxMs, initialMs * 2 ** Math.min(headAttempts, 20)),
      failedAt: Date.now(),
    };
  }

  private async deadLetter(destinationId: string, entries: DeadLetterEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await activities.recordDeadLetters({
      sourceId: this.args.sourceId,
      destinationId,
      workflowId: workflowInfo().workflowId,
      entries,
    });
  }

  /** Keeps the operator-facing views in step: the stuck-destinations search attribute and the UI details. */
  private publish(): void {
    const stuck = this.state.stuckDestinations();
    if (stuck.join('\n') !== this.stuck.join('\n')) {
      this.stuck = stuck;
      upsertSearchAttributes([{ key: searchAttributes.stuckDestinations, value: stuck.length > 0 ? stuck : null }]);
    }
    const lines = this.state.snapshot().map((lane) => {
      const problem = lane.attempts > 0 ? ` — retrying (attempt ${lane.attempts}): ${lane.lastError ?? ''}` : '';
      return `- **${lane.destinationId}**: ${lane.depth} pending, ${lane.delivered} delivered, ${lane.aborted} aborted${problem}`;
    });
    setCurrentDetails(`**Ferry pipeline** ${this.args.sourceId} / ${this.args.userKey}\n\n${lines.join('\n')}`);
  }
}
