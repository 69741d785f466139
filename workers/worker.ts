/**
 * The worker process: `node dist/workers/worker.js` (or `npm run worker`). Runs migrations, then until
 * SIGINT/SIGTERM: the relay (its share of the log's buckets), the pipeline workflows and their
 * activities, and the log's housekeeping.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { DeliveryProgress } from '../activities/deliver/progress';
import { PostgresConnections } from '../activities/deliver/warehouse/connections';
import { AddressPolicy } from '../activities/deliver/addressPolicy';
import { HttpTransport } from '../activities/deliver/http';
import { TransformationLoader } from '../transformations/loader';
import { UserTransformationSandboxes } from '../transformations/pool';
import { createAlertActivities } from '../activities/alerts';
import { createControlActivities } from '../activities/control';
import { alertConfigOf, configuredChannels } from '../config/alertEnv';
import { HealthCounters } from '../control/health';
import { ControlCache, PIPELINE_MODES } from '../control/state';
import type { PipelineSettings } from '../workflows/settings';
import type { SupervisorSettings } from '../workflows/supervisorState';
import { parseEnv, workerEnvSchema, type WorkerEnv } from '../config/env';
import type { Logger } from 'pino';
import { createLogger } from '../config/logger';
import { loadWorkspace, type Workspace } from '../config/workspace';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { Relay } from '../relay/relay';
import { ensureSearchAttributes } from '../temporal/searchAttributes';
import { startMaintenance } from './maintenance';
import { HealthReporter } from './healthReporter';
import { createPipelineWorker } from './pipelineWorker';
import { createSupervisorWorker } from './supervisorWorker';
import { installRuntime } from './runtime';
import { createWorkerMetrics } from '../metrics/worker';
import { startMetricsServer } from '../metrics/server';
import { bundleFerryWorkflows } from './workflowSource';

/** The bundler's info lines are noise in the worker's log; its warnings and errors are kept. */
function quietBundler(logger: Logger) {
  return {
    log: () => undefined,
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string) => logger.warn(message),
    error: (message: string) => logger.error(message),
  };
}

export function supervisorSettingsFromEnv(env: WorkerEnv, workspace: Workspace): SupervisorSettings {
  return {
    breaker: {
      failureRate: env.FERRY_BREAKER_FAILURE_RATE,
      minAttempts: env.FERRY_BREAKER_MIN_ATTEMPTS,
      windowMs: env.FERRY_BREAKER_WINDOW_MS,
      probeAfterMs: env.FERRY_BREAKER_PROBE_AFTER_MS,
    },
    breakerOverrides: workspace.breakerOverrides(),
    maxProbeAfterMs: env.FERRY_BREAKER_MAX_PROBE_AFTER_MS,
    probeLanes: 3,
    selfFailureThreshold: env.FERRY_DEGRADE_SELF_FAILURES,
    workerStartThreshold: env.FERRY_DEGRADE_WORKER_STARTS,
    windowMs: env.FERRY_DEGRADE_WINDOW_MS,
    healthyPeriodMs: env.FERRY_DEGRADE_HEALTHY_MS,
  };
}

export function pipelineSettingsFromEnv(env: WorkerEnv): PipelineSettings {
  return {
    maxBatchSize: env.FERRY_MAX_BATCH_SIZE,
    idleTimeoutMs: env.FERRY_IDLE_TIMEOUT_MS,
    continueAsNewAfterSignals: env.FERRY_CAN_AFTER_SIGNALS,
    continueAsNewAfterEvents: env.FERRY_CAN_AFTER_EVENTS,
    dedupWindowMs: env.FERRY_DEDUP_WINDOW_MS,
    dedupMaxEntries: env.FERRY_DEDUP_MAX_ENTRIES,
    deliverTimeoutMs: env.FERRY_DELIVER_TIMEOUT_MS,
    logHoldAfterMs: env.FERRY_LOG_HOLD_AFTER_MS,
    failureBackoff: { initialMs: env.FERRY_FAILURE_BACKOFF_INITIAL_MS, maxMs: env.FERRY_FAILURE_BACKOFF_MAX_MS },
  };
}

async function main(env: WorkerEnv): Promise<void> {
  const logger = createLogger('worker', env.LOG_LEVEL);
  installRuntime(logger, { metricsAddress: env.FERRY_TEMPORAL_METRICS_ADDRESS });
  const metrics = createWorkerMetrics();
  // Metrics are for watching: a port already taken costs the metrics, not the deliveries.
  const metricsServer =
    env.FERRY_WORKER_METRICS_PORT === 0
      ? undefined
      : await startMetricsServer({ registry: metrics.registry, host: env.FERRY_WORKER_METRICS_HOST, port: env.FERRY_WORKER_METRICS_PORT }).catch((err: unknown) => {
          logger.warn({ err, port: env.FERRY_WORKER_METRICS_PORT }, 'could not serve /metrics; running without');
          return undefined;
        });
  const workspace = loadWorkspace(env.FERRY_WORKSPACE_CONFIG, process.env, { compiler: (baseDir) => new TransformationLoader(baseDir) });
  // The delivery steps' log reads and progress, dead letters, the relay and housekeeping share it.
  const pool = createPool(env.DATABASE_URL, 20);
  const applied = await migrate(pool);
  if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
  const added = await ensureSearchAttributes(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
  if (added.length > 0) logger.info({ added }, 'search attributes registered');
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const clientConnection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const sandboxes = new UserTransformationSandboxes({
    memoryMb: env.FERRY_USER_TRANSFORM_MEMORY_MB,
    timeoutMs: env.FERRY_USER_TRANSFORM_TIMEOUT_MS,
    isolatesPerVersion: env.FERRY_USER_TRANSFORM_ISOLATES,
  });
  const warehouses = new PostgresConnections();
  // Destination requests go only where the address policy allows, redirects and DNS answers included.
  const httpTransport = new HttpTransport({ addressPolicy: new AddressPolicy({ allow: env.FERRY_DESTINATION_ALLOW, deny: env.FERRY_DESTINATION_DENY }) });
  // Progress records are many and small; they need not wait for a disk sync (see DeliveryProgress).
  const progressPool = createPool(env.DATABASE_URL, 4, { asyncCommit: true });
  const progress = new DeliveryProgress(progressPool);
  const maintenance = startMaintenance({ pool, progress, logger, retentionDays: env.FERRY_LOG_RETENTION_DAYS });
  const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE });
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // The supervisor's decisions, re-read every second: relays and delivery steps consult this copy.
  const control = new ControlCache(pool, env.FERRY_CONTROL_REFRESH_MS);
  await control.start();
  const health = new HealthCounters();
  const alertConfig = alertConfigOf(env);
  // The settings activity answers with these, and the relay hands them to the runs it starts.
  const pipelineSettings = pipelineSettingsFromEnv(env);
  // One bundle for both workers: building it takes seconds and memory.
  const workflowCode = await bundleFerryWorkflows({ logger: quietBundler(logger) });
  const supervisorWorker = await createSupervisorWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.FERRY_TASK_QUEUE,
    workflowCode,
    health,
    activities: {
      ...createControlActivities({ pool, client }),
      ...createAlertActivities({ config: alertConfig, logger: logger.child({ component: 'alerts' }) }),
      async supervisorSettings() {
        return { settings: supervisorSettingsFromEnv(env, workspace), alertChannels: configuredChannels(alertConfig) };
      },
    },
  });
  const worker = await createPipelineWorker({
    workflowCode,
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.FERRY_TASK_QUEUE,
    activities: createActivities({
      pool,
      workspace,
      config: { httpTimeoutMs: env.FERRY_HTTP_TIMEOUT_MS, transformTimeoutMs: env.FERRY_TRANSFORM_TIMEOUT_MS },
      sandboxes,
      warehouses,
      http: httpTransport.send,
      progress,
      control,
      health,
      metrics: metrics.delivery,
      logger: logger.child({ component: 'delivery' }),
    }),
    settings: pipelineSettings,
    health,
    maxConcurrentActivities: env.FERRY_WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTasks: env.FERRY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    workflowThreads: env.FERRY_WORKER_WORKFLOW_THREADS,
    maxCachedWorkflows: env.FERRY_WORKER_MAX_CACHED_WORKFLOWS,
  });
  const relay = new Relay({
    pool,
    databaseUrl: env.DATABASE_URL,
    client,
    taskQueue: env.FERRY_TASK_QUEUE,
    buckets: env.FERRY_LOG_BUCKETS,
    id: workerId,
    logger: logger.child({ component: 'relay' }),
    batchRows: env.FERRY_RELAY_BATCH_ROWS,
    concurrency: env.FERRY_RELAY_CONCURRENCY,
    leaseMs: env.FERRY_RELAY_LEASE_MS,
    // Degraded mode: every event is stored in the log, and none is forwarded until it ends.
    forwarding: () => control.current.mode !== PIPELINE_MODES.degraded,
    metrics: metrics.relay,
    pipelineSettings,
  });
  await relay.start();
  const reporter = new HealthReporter({ client, taskQueue: env.FERRY_TASK_QUEUE, counters: health, workerId, logger, intervalMs: env.FERRY_HEALTH_REPORT_MS });
  reporter.start();
  logger.info(
    { taskQueue: env.FERRY_TASK_QUEUE, address: env.TEMPORAL_ADDRESS, metricsPort: metricsServer?.port, temporalMetrics: env.FERRY_TEMPORAL_METRICS_ADDRESS },
    'worker running',
  );
  // Worker.run() returns after SIGINT/SIGTERM, once in-flight tasks are done. The relay stops first,
  // handing its buckets over, so that no new work arrives for the tasks being finished.
  const stopRelay = () => void relay.stop();
  process.once('SIGINT', stopRelay);
  process.once('SIGTERM', stopRelay);
  // Both return after SIGINT/SIGTERM (the SDK's runtime stops every worker of the process).
  await Promise.all([worker.run(), supervisorWorker.run()]);
  await relay.stop();
  await reporter.stop();
  control.stop();
  maintenance.stop();
  sandboxes.dispose();
  await warehouses.close();
  httpTransport.close();
  await clientConnection.close();
  await connection.close();
  await progressPool.end();
  await pool.end();
  await metricsServer?.close();
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
