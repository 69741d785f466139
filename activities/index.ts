import type { Pool } from 'pg';
import type { Workspace } from '../config/workspace';
import { createRecordDeadLetters } from './deadLetters';
import { createDeliver } from './deliver/deliver';
import { sendHttp } from './deliver/http';
import { PostgresConnections } from './destinations/postgres/connections';
import { createTransform } from './transform/transform';
import { UserTransformationSandboxes } from './transform/userTransformation/pool';
import { userTransformationBudgetMs } from './transform/userTransformation/run';
import type { PipelineSettings } from './types';

export interface ActivityDeps {
  readonly pool: Pool;
  readonly workspace: Workspace;
  readonly settings: PipelineSettings;
  /** Timeout of one request to a destination. */
  readonly httpTimeoutMs: number;
  /**
   * Isolates running destinations' user transformations; whoever passes it disposes it on shutdown.
   * @default new sandboxes with DEFAULT_SANDBOX_LIMITS
   */
  readonly sandboxes?: UserTransformationSandboxes;
  /**
   * Pools for warehouse destinations; whoever passes it closes it on shutdown.
   * @default new connections for this workspace
   */
  readonly warehouses?: PostgresConnections;
}

export function createActivities({ pool, workspace, settings, httpTimeoutMs, sandboxes = new UserTransformationSandboxes(), warehouses = new PostgresConnections({ workspace }) }: ActivityDeps) {
  return {
    /** The worker's settings, read by each workflow run so they live in one place: the worker's env. */
    async pipelineSettings(): Promise<PipelineSettings> {
      return settings;
    },
    transform: createTransform({
      workspace,
      sandboxes,
      userTransformationBudgetMs: userTransformationBudgetMs(settings.transformTimeoutMs, sandboxes.limits.timeoutMs),
    }),
    deliver: createDeliver({ workspace, timeoutMs: httpTimeoutMs, transports: { http: sendHttp, warehouse: warehouses.send } }),
    recordDeadLetters: createRecordDeadLetters({ pool }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
