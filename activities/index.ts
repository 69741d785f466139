/**
 * The pipeline's activities, built by one factory from what they depend on. Workflows import the
 * `Activities` type only, through proxyActivities.
 */
import type { Pool } from 'pg';
import type { Workspace } from '../config/workspace';
import { UserTransformationSandboxes } from '../transformations/pool';
import { userTransformationBudgetMs } from '../transformations/run';
import { createRecordDeadLetters } from './deadLetters';
import { createDeliver } from './deliver';
import { sendHttp } from './deliver/http';
import type { Transport } from './deliver/transport';
import { DeliveryProgress } from './deliver/progress';
import { PostgresConnections } from './deliver/warehouse/connections';
import { createTransform } from './transform';
import type { HttpDeliveryRequest } from '../delivery/requests';

export interface ActivityConfig {
  /** Timeout of one request to a destination. */
  readonly httpTimeoutMs: number;
  /** Start-to-close timeout of one transform call, which bounds how long user transformations may run in it. */
  readonly transformTimeoutMs: number;
}

export interface ActivityDeps {
  /** Ferry's own database: dead letters. */
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
  /** Where deliver records each settled item. @default progress in `pool` */
  readonly progress?: DeliveryProgress;
}

export function createActivities({
  pool,
  workspace,
  config,
  http = sendHttp,
  sandboxes = new UserTransformationSandboxes(),
  warehouses = new PostgresConnections(),
  progress = new DeliveryProgress(pool),
}: ActivityDeps) {
  return {
    transform: createTransform({
      workspace,
      sandboxes,
      userTransformationBudgetMs: userTransformationBudgetMs(config.transformTimeoutMs, sandboxes.limits.timeoutMs),
    }),
    deliver: createDeliver({ workspace, timeoutMs: config.httpTimeoutMs, transports: { http, warehouse: warehouses.send }, progress }),
    recordDeadLetters: createRecordDeadLetters({ pool }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
