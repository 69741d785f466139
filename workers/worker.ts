/**
 * The worker process: `node dist/workers/worker.js` (or `npm run worker`). Runs migrations, then the
 * pipeline workflows and their activities until SIGINT/SIGTERM.
 */
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { DeliveryProgress } from '../activities/deliver/progress';
import { PostgresConnections } from '../activities/deliver/warehouse/connections';
import { TransformationLoader } from '../transformations/loader';
import { UserTransformationSandboxes } from '../transformations/pool';
import type { PipelineSettings } from '../workflows/settings';
import { parseEnv, workerEnvSchema, type WorkerEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { loadWorkspace } from '../config/workspace';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { ensureSearchAttributes } from '../temporal/searchAttributes';
import { createPipelineWorker } from './pipelineWorker';
import { installRuntimeLogger } from './runtime';

export function pipelineSettingsFromEnv(env: WorkerEnv): PipelineSettings {
  return {
    maxBatchSize: env.FERRY_MAX_BATCH_SIZE,
    idleTimeoutMs: env.FERRY_IDLE_TIMEOUT_MS,
    continueAsNewAfterSignals: env.FERRY_CAN_AFTER_SIGNALS,
    continueAsNewAfterEvents: env.FERRY_CAN_AFTER_EVENTS,
    dedupWindowMs: env.FERRY_DEDUP_WINDOW_MS,
    dedupMaxEntries: env.FERRY_DEDUP_MAX_ENTRIES,
    deliverTimeoutMs: env.FERRY_DELIVER_TIMEOUT_MS,
    transformTimeoutMs: env.FERRY_TRANSFORM_TIMEOUT_MS,
    failureBackoff: { initialMs: env.FERRY_FAILURE_BACKOFF_INITIAL_MS, maxMs: env.FERRY_FAILURE_BACKOFF_MAX_MS },
  };
}

async function main(env: WorkerEnv): Promise<void> {
  const logger = createLogger('worker', env.LOG_LEVEL);
  installRuntimeLogger(logger);
  const workspace = loadWorkspace(env.FERRY_WORKSPACE_CONFIG, process.env, { compiler: (baseDir) => new TransformationLoader(baseDir) });
  const pool = createPool(env.DATABASE_URL);
  const applied = await migrate(pool);
  if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
  const added = await ensureSearchAttributes(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
  if (added.length > 0) logger.info({ added }, 'search attributes registered');
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const sandboxes = new UserTransformationSandboxes({
    memoryMb: env.FERRY_USER_TRANSFORM_MEMORY_MB,
    timeoutMs: env.FERRY_USER_TRANSFORM_TIMEOUT_MS,
    isolatesPerVersion: env.FERRY_USER_TRANSFORM_ISOLATES,
  });
  const warehouses = new PostgresConnections();
  const progress = new DeliveryProgress(pool);
  // Recorded progress only matters while the call that recorded it may run again; keep a day of it.
  const cleanup = setInterval(() => void progress.cleanup().catch((err: unknown) => logger.warn({ err }, 'delivery progress cleanup failed')), 3_600_000);
  cleanup.unref();
  const worker = await createPipelineWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.FERRY_TASK_QUEUE,
    activities: createActivities({
      pool,
      workspace,
      config: { httpTimeoutMs: env.FERRY_HTTP_TIMEOUT_MS, transformTimeoutMs: env.FERRY_TRANSFORM_TIMEOUT_MS },
      sandboxes,
      warehouses,
      progress,
    }),
    settings: pipelineSettingsFromEnv(env),
    maxConcurrentActivities: env.FERRY_WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxCachedWorkflows: env.FERRY_WORKER_MAX_CACHED_WORKFLOWS,
  });
  logger.info({ taskQueue: env.FERRY_TASK_QUEUE, address: env.TEMPORAL_ADDRESS }, 'worker running');
  // Worker.run() returns after SIGINT/SIGTERM, once in-flight tasks are done.
  await worker.run();
  clearInterval(cleanup);
  sandboxes.dispose();
  await warehouses.close();
  await connection.close();
  await pool.end();
  logger.info('worker stopped');
}

if (require.main === module) {
  let env: WorkerEnv;
  try {
    env = parseEnv(workerEnvSchema);
  } catch (err) {
    console.error(`worker: ${(err as Error).message}`);
    process.exit(2);
  }
  main(env).catch((err: unknown) => {
    console.error(`worker: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}
