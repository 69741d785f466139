/**
 * What the `ferry` CLI connects to, from its environment (cliEnvSchema): the workspace (for its
 * destination ids), Temporal (the supervisor), and, when DATABASE_URL is set, Ferry's database (for
 * the backlog). The same functions the gateway and the worker use.
 */
import { Client, Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import type { CliEnv } from '../config/env';
import { loadWorkspace } from '../config/workspace';
import { createPool } from '../db/pool';
import { ReplayClient, type ReplayOps } from '../ops/replayClient';
import { SupervisorClient, SupervisorUnavailableError, type SupervisorOps } from '../ops/supervisorClient';

export interface ConnectedOps {
  readonly ops: SupervisorOps;
  readonly replays: ReplayOps;
  /** Closes the Temporal connection and the pool. */
  close(): Promise<void>;
}

/** Throws ConfigError for a bad workspace file, SupervisorUnavailableError when Temporal cannot be reached. */
export async function connectOps(env: CliEnv): Promise<ConnectedOps> {
  const workspace = loadWorkspace(env.FERRY_WORKSPACE_CONFIG);
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, connectTimeout: '5s' });
  } catch (err) {
    throw new SupervisorUnavailableError(`cannot reach Temporal at ${env.TEMPORAL_ADDRESS}: ${(err as Error).message}`, { cause: err });
  }
  const pool: Pool | undefined = env.DATABASE_URL ? createPool(env.DATABASE_URL, 2) : undefined;
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const ops = new SupervisorClient({
    client,
    taskQueue: env.FERRY_TASK_QUEUE,
    destinationIds: workspace.destinationIds(),
    ...(pool ? { pool } : {}),
  });
  const replays = new ReplayClient({ client, taskQueue: env.FERRY_TASK_QUEUE, sources: workspace.destinationsBySource(), ...(pool ? { pool } : {}) });
  return {
    ops,
    replays,
    async close() {
      await Promise.allSettled([connection.close(), pool?.end()]);
    },
  };
}
