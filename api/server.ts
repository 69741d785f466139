/**
 * The gateway process: `node dist/api/server.js` (or `npm run gateway`).
 * Settings come from the environment; see README.md for each variable.
 */
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { gatewayEnvSchema, parseEnv, type GatewayEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { loadWorkspace } from '../config/workspace';
import { readControl } from '../control/state';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { ensurePartitions } from '../log/partitions';
import { LOG_WRITER_APPLICATION, LogWriter } from '../log/writer';
import { createGatewayMetrics } from '../metrics/gateway';
import { SupervisorClient } from '../ops/supervisorClient';
import { createApp } from './app';
import { createHealthCheck } from './health';
import { createLimitedServer } from './limits';
import { controlModeSource } from './mode';
import { ReplayClient } from '../ops/replayClient';
import { resolveVersion } from './version';

export interface RunningGateway {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startGateway(env: GatewayEnv): Promise<RunningGateway> {
  const logger = createLogger('gateway', env.LOG_LEVEL);
  const workspace = loadWorkspace(env.FERRY_WORKSPACE_CONFIG);
  // Temporal is only asked by /health and the admin API: the gateway starts and accepts events while it is down.
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
  // One connection per log writer, one for the writers' notifications to the relays, one for /health,
  // one for the control state and the admin API's backlog (reads only). A statement the log cannot
  // finish in time is cancelled by the server too, so that a write reported as failed rarely commits
  // afterwards.
  const pool = createPool(env.DATABASE_URL, env.FERRY_LOG_WRITERS + 3, { statementTimeoutMs: env.FERRY_LOG_WRITE_TIMEOUT_MS, applicationName: LOG_WRITER_APPLICATION });
  // The gateway needs only PostgreSQL: it creates the log (migrations are safe to run from every
  // process at once) and the day's partitions itself. One that cannot reach PostgreSQL still starts
  // and answers 503 until it can; the writer then makes the partitions when it first writes.
  await migrate(pool)
    .then(() => ensurePartitions(pool))
    .catch((err: unknown) => logger.warn({ err }, 'could not prepare the log; will retry on first write'));
  // /health reports the mode and paused destinations the supervisor wrote, read at most once a second.
  const mode = controlModeSource(() => readControl(pool));
  // Read at each scrape, by then `sink` exists.
  const metrics = createGatewayMetrics({ mode, destinationIds: workspace.destinationIds(), logBacklog: () => sink.backlog });
  const sink = new LogWriter({
    pool,
    buckets: env.FERRY_LOG_BUCKETS,
    writers: env.FERRY_LOG_WRITERS,
    maxRows: env.FERRY_LOG_BATCH_ROWS,
    maxWaitMs: env.FERRY_LOG_BATCH_WAIT_MS,
    timeoutMs: env.FERRY_LOG_WRITE_TIMEOUT_MS,
    metrics: metrics.log,
  });
  const health = createHealthCheck({ connection, pool });
  // The admin API exists only with a token; it commands the supervisor through Temporal.
  const adminClient = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const admin = env.FERRY_ADMIN_TOKEN
    ? {
        token: env.FERRY_ADMIN_TOKEN,
        replays: new ReplayClient({ client: adminClient, taskQueue: env.FERRY_TASK_QUEUE, sources: workspace.destinationsBySource(), pool }),
        ops: new SupervisorClient({
          client: adminClient,
          taskQueue: env.FERRY_TASK_QUEUE,
          destinationIds: workspace.destinationIds(),
          pool,
        }),
      }
    : undefined;
  const app = createApp({
    workspace,
    sink,
    health,
    logger,
    maxRequestBytes: env.FERRY_MAX_REQUEST_KB * 1024,
    maxJsonDepth: env.FERRY_MAX_JSON_DEPTH,
    maxHeaders: env.FERRY_MAX_HEADERS,
    version: resolveVersion({ commit: env.FERRY_COMMIT }),
    mode,
    metrics,
    ...(admin ? { admin } : {}),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createLimitedServer(app, {
      maxHeaders: env.FERRY_MAX_HEADERS,
      maxHeaderBytes: env.FERRY_MAX_HEADER_BYTES,
      headersTimeoutMs: env.FERRY_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.FERRY_REQUEST_TIMEOUT_MS,
    });
    s.once('error', reject);
    s.listen(env.PORT, env.HOST, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  logger.info({ port, sources: workspace.sources.length, admin: admin !== undefined }, 'gateway listening');
  return {
    server,
    port,
    async close() {
      // Stop taking requests, let in-flight ones finish (their log writes included), then drop connections.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await health.settled();
      await connection.close();
      await pool.end();
    },
  };
}

if (require.main === module) {
  let env: GatewayEnv;
  try {
    env = parseEnv(gatewayEnvSchema);
  } catch (err) {
    console.error(`gateway: ${(err as Error).message}`);
    process.exit(2);
  }
  startGateway(env).then(
    (gateway) => {
      const stop = () => {
        gateway.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: unknown) => {
      console.error(`gateway: failed to start: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
