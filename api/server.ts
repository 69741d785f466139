/**
 * The gateway process: `node dist/api/server.js` (or `npm run gateway`).
 * Settings come from the environment; see README.md for each variable.
 */
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { gatewayEnvSchema, parseEnv, type GatewayEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { loadWorkspace } from '../config/workspace';
import { createPool } from '../db/pool';
import { createApp } from './app';
import { SignalDispatcher } from './dispatcher';
import { createHealthCheck } from './health';
import { resolveVersion } from './version';

export interface RunningGateway {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startGateway(env: GatewayEnv): Promise<RunningGateway> {
  const logger = createLogger('gateway', env.LOG_LEVEL);
  const workspace = loadWorkspace(env.FERRY_WORKSPACE_CONFIG);
  // Lazy: the gateway starts (and /health reports the outage) even while Temporal is down.
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const pool = createPool(env.DATABASE_URL, 2);
  const sink = new SignalDispatcher({ client, taskQueue: env.FERRY_TASK_QUEUE, signalTimeoutMs: env.FERRY_SIGNAL_TIMEOUT_MS });
  const health = createHealthCheck({ connection, pool });
  const app = createApp({
    workspace,
    sink,
    health,
    logger,
    maxRequestBytes: env.FERRY_MAX_REQUEST_KB * 1024,
    version: resolveVersion({ commit: env.FERRY_COMMIT }),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(env.PORT, env.HOST, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  logger.info({ port, sources: workspace.sources.length }, 'gateway listening');
  return {
    server,
    port,
    async close() {
      // Stop taking requests, let in-flight ones finish (their signals included), then drop connections.
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
