/**
 * The pipeline's activities, built by one factory from what they depend on. Workflows import the
 * `Activities` type only, through proxyLocalActivities.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { HealthCounters } from '../control/health';
import type { ControlCache } from '../control/state';
import type { Workspace } from '../config/workspace';
import type { HttpDeliveryRequest } from '../delivery/requests';
import { UserTransformationSandboxes } from '../transformations/pool';
import { userTransformationBudgetMs } from '../transformations/run';
import { DELIVERY_FAILED, type DeliverStepInput, type DeliverStepResult } from './contract';
import { parkedLanesIn } from './control';
import { createRecordDeadLetters } from './deadLetters';
import { createDeliverStep } from './deliver';
import { sendHttp } from './deliver/http';
import { DeliveryProgress } from './deliver/progress';
import type { Transport } from './deliver/transport';
import { PostgresConnections } from './deliver/warehouse/connections';
import { createLogBookkeeping } from './logBookkeeping';
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
}: ActivityDeps) {
  const transform = createTransform({
    workspace,
    sandboxes,
    userTransformationBudgetMs: userTransformationBudgetMs(config.transformTimeoutMs, sandboxes.limits.timeoutMs),
  });
  const deliverStep = createDeliverStep({
    workspace,
    pool,
    transform,
    transports: { http, warehouse: warehouses.send },
    progress,
    recordDeadLetters: createRecordDeadLetters({ pool }),
    timeoutMs: config.httpTimeoutMs,
    control,
    parkedLanes: parkedLanesIn(pool),
    health,
  });
  return {
    async deliverStep(input: DeliverStepInput): Promise<DeliverStepResult> {
      try {
        return await deliverStep(input);
      } catch (err) {
        // A destination's answer is not Ferry failing; anything else (the database away, a bug) is.
        if (!(err instanceof ApplicationFailure && err.type === DELIVERY_FAILED)) health?.selfFailure();
        throw err;
      }
    },
    ...createLogBookkeeping({ pool }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
