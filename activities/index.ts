/**
 * The pipeline's activities, built by one factory from what they depend on. Workflows import the
 * `Activities` type only, through proxyLocalActivities.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import pino, { type Logger } from 'pino';
import type { HealthCounters } from '../control/health';
import { isUnavailableError } from '../db/unavailable';
import type { ControlCache } from '../control/state';
import type { Workspace } from '../config/workspace';
import type { HttpDeliveryRequest } from '../delivery/requests';
import { UserTransformationSandboxes } from '../transformations/pool';
import { userTransformationBudgetMs } from '../transformations/run';
import { DELIVERY_FAILED, type DeliverStepInput, type DeliverStepResult, type DeliveryFailureDetails } from './contract';
import { parkedLanesIn } from './control';
import { createRecordDeadLetters } from './deadLetters';
import { createDeliverStep, type StepBudget } from './deliver';
import { sendHttp } from './deliver/http';
import { DeliveryProgress } from './deliver/progress';
import type { Transport } from './deliver/transport';
import { PostgresConnections } from './deliver/warehouse/connections';
import { createLogBookkeeping } from './logBookkeeping';
import { readEvents as readLogEvents } from '../log/reader';
import type { DeliveryMetrics } from '../metrics/worker';
import { createDeliveryObserver } from './observe';
import { createReplayActivities, deadLetterEvents, markRedriven } from './replay';
import type { ReplayLaneOutcome, ReplayLanesInput } from './replayContract';
import { createTransform } from './transform';

export interface ActivityConfig {
  /** Timeout of one request to a destination. */
  readonly httpTimeoutMs: number;
  /** How long one delivery step may spend in user transformations (FERRY_TRANSFORM_TIMEOUT_MS). */
  readonly transformTimeoutMs: number;
}

export interface ActivityDeps {
  /** Ferry's own database: the log, dead letters, delivery progress. */
  readonly pool: Pool;
  readonly workspace: Workspace;
  readonly config: ActivityConfig;
  /** Sends HTTP delivery requests. @default sendHttp (fetch) */
  readonly http?: Transport<HttpDeliveryRequest>;
  /**
   * Isolates running destinations' user transformations; whoever passes it disposes it on shutdown.
   * @default new sandboxes with DEFAULT_SANDBOX_LIMITS
   */
  readonly sandboxes?: UserTransformationSandboxes;
  /**
   * Pools for warehouse destinations; whoever passes it closes it on shutdown.
   * @default new connections
   */
  readonly warehouses?: PostgresConnections;
  /** Where the delivery step records each settled item. @default progress in `pool` */
  readonly progress?: DeliveryProgress;
  /** The supervisor's pauses and degraded mode, as this worker last read them. @default never paused */
  readonly control?: ControlCache;
  /** Delivery attempts and Ferry's own failures, reported to the supervisor. */
  readonly health?: HealthCounters;
  /** Where deliveries, their latency, dead letters and the lanes' backlog are counted. @default not counted */
  readonly metrics?: DeliveryMetrics;
  /** Delivery log lines (workflowId and messageId, never the event). @default silent */
  readonly logger?: Logger;
}

export function createActivities({
  pool,
  workspace,
  config,
  http = sendHttp,
  sandboxes = new UserTransformationSandboxes(),
  warehouses = new PostgresConnections(),
  progress = new DeliveryProgress(pool),
  control,
  health,
  metrics,
  logger = pino({ level: 'silent' }),
}: ActivityDeps) {
  const observe = createDeliveryObserver({ metrics, logger });
  const transform = createTransform({
    workspace,
    sandboxes,
    userTransformationBudgetMs: userTransformationBudgetMs(config.transformTimeoutMs, sandboxes.limits.timeoutMs),
  });
  const stepDeps = {
    workspace,
    pool,
    transform,
    transports: { http, warehouse: warehouses.send },
    progress,
    recordDeadLetters: observe.deadLetters(createRecordDeadLetters({ pool })),
    timeoutMs: config.httpTimeoutMs,
    control,
    health,
    budget: runningStepBudget,
  };
  /**
   * Counts Ferry's own failures toward degraded mode: not a destination's answer, and not Ferry's
   * database being unreachable either. An outage stops deliveries by itself and /health reports it;
   * counted, it would also hold the pipeline in degraded mode for a healthy period after it ended.
   */
  const counted =
    (step: (input: DeliverStepInput) => Promise<DeliverStepResult>) =>
    async (input: DeliverStepInput): Promise<DeliverStepResult> => {
      try {
        return await step(input);
      } catch (err) {
        if (!(err instanceof ApplicationFailure && err.type === DELIVERY_FAILED) && !isUnavailableError(err)) health?.selfFailure();
        throw err;
      }
    };
  // A replay job waits out a pause itself (it polls), so its lanes are never parked for a wake.
  const replaySteps = {
    replay: counted(observe.step(createDeliverStep(stepDeps), { live: false })),
    redrive: counted(observe.step(createDeliverStep({ ...stepDeps, readEvents: deadLetterEvents(pool) }), { live: false })),
  };
  return {
    deliverStep: counted(
      observe.step(createDeliverStep({ ...stepDeps, parkedLanes: parkedLanesIn(pool), readEvents: observe.readEvents((seqs) => readLogEvents(pool, seqs)) }), { live: true }),
    ),
    /**
     * A replay's lanes, many per call: one activity task per user and destination would make the
     * job's history, not the destination, its bottleneck. A lane's retryable failure is its outcome;
     * anything else fails the call, which Temporal retries (recorded progress skips what was sent).
     */
    async replayDeliverLanes({ kind, lanes }: ReplayLanesInput): Promise<ReplayLaneOutcome[]> {
      const runLane = async (lane: DeliverStepInput): Promise<ReplayLaneOutcome> => {
        try {
          return { step: await replaySteps[kind](lane) };
        } catch (err) {
          const details = err instanceof ApplicationFailure && err.type === DELIVERY_FAILED ? (err.details?.[0] as DeliveryFailureDetails | undefined) : undefined;
          if (details) return { failure: details };
          throw err;
        }
      };
      return Promise.all(
        lanes.map(async (lane) => {
          const outcome = await runLane(lane);
          // Marked here, beside the sends: a call run again after a crash finds the sends recorded
          // and marks the same rows again.
          if (kind === 'redrive') await markRedriven(pool, lane.items, 'step' in outcome ? outcome.step.results : outcome.failure.results);
          return outcome;
        }),
      );
    },
    ...createReplayActivities({ pool }),
    ...createLogBookkeeping({ pool }),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** The budget of the activity this runs in; none when called outside one (tests call steps directly). */
function runningStepBudget(): StepBudget | undefined {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return undefined;
  }
  return { timeoutMs: context.info.startToCloseTimeoutMs, signal: context.cancellationSignal };
}
