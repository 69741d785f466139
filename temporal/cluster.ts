/**
 * Runs a real Temporal server (all four services in one process) on PostgreSQL, the way a production
 * cluster persists: its own `temporal` and `temporal_visibility` databases set up by Temporal's SQL
 * tool, several history shards, eager activity execution on, and Ferry's namespace and search
 * attributes registered before it counts as ready. `npm run cluster` and the cluster tests use it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, type Connection } from '@temporalio/client';
import Long from 'long';
import { Client as PgClient } from 'pg';
import { FerryError } from '../errors/ferryError';
import { stopChild } from '../processes/children';
import { type TemporalProcess, waitUntilServing } from './devServer';
import { freePort } from '../processes/ports';
import { searchAttributes } from './names';
import { ensureSearchAttributes } from './searchAttributes';
import type { TemporalServerBinaries } from './serverBinary';

const run = promisify(execFile);

/** The two databases a Temporal server on SQL keeps: workflow state, and the list/search index. */
export const TEMPORAL_DATABASES = { main: 'temporal', visibility: 'temporal_visibility' } as const;

export interface TemporalClusterOptions {
  readonly binaries: TemporalServerBinaries;
  /**
   * Any database on the PostgreSQL server to use: its host, port and credentials are taken, and the
   * server's own databases are created beside it. The user must be allowed to create databases.
   */
  readonly databaseUrl: string;
  /** Holds the generated config and the server's log. */
  readonly dir: string;
  /** The frontend's gRPC port. @default 7233 */
  readonly port?: number;
  /** @default default */
  readonly namespace?: string;
  /**
   * Fixed for the life of the databases: Temporal cannot reshard. 4 is the least that shows a
   * sharded server's behaviour (users' workflows on different shards); production clusters use 512+.
   * @default 4
   */
  readonly numHistoryShards?: number;
  /** @default 72 */
  readonly retentionHours?: number;
  /** More dynamic config, e.g. `{ 'frontend.rps': 5000 }`. */
  readonly dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
  /** @default 120000 */
  readonly readyTimeoutMs?: number;
}

export interface TemporalCluster extends TemporalProcess {
  /** Temporal's own Prometheus metrics. */
  readonly metricsUrl: string;
}

export class TemporalClusterError extends FerryError {
  constructor(
    message: string,
    readonly logFile?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Dynamic config every Ferry cluster gets; see devServer.ts for why eager activities. */
const FERRY_DYNAMIC_CONFIG = { 'system.enableActivityEagerExecution': true } as const;

/** Creates the server's databases when missing and brings their schema to the version the binary ships. */
export async function setupTemporalSchema(binaries: TemporalServerBinaries, databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  // The password goes through the environment, not argv, where `ps` would show it.
  const env = {
    ...process.env,
    SQL_HOST: url.hostname,
    SQL_PORT: url.port || '5432',
    SQL_USER: decodeURIComponent(url.username),
    SQL_PASSWORD: decodeURIComponent(url.password),
  };
  for (const [kind, database] of Object.entries(TEMPORAL_DATABASES)) {
    const tool = (...args: string[]) =>
      run(binaries.sqlTool, ['--plugin', 'postgres12', '--db', database, ...args], { env }).catch((err: unknown) => {
        const { stderr, stdout } = err as { stderr?: string; stdout?: string };
        throw new TemporalClusterError(`temporal sql tool ${args[0]} on ${database} failed: ${stderr || stdout || (err as Error).message}`, undefined, { cause: err });
      });
    const state = await databaseState(databaseUrl, database);
    if (state === 'missing') await tool('create-database');
    // setup-schema only creates the version tables (at 0.0); update-schema then applies every version.
    if (state !== 'versioned') await tool('setup-schema', '-v', '0.0');
    await tool('update-schema', '-d', path.join(binaries.schemaDir, kind === 'main' ? 'temporal' : 'visibility', 'versioned'));
  }
}

async function databaseState(databaseUrl: string, database: string): Promise<'missing' | 'empty' | 'versioned'> {
  const connect = async (name: string) => {
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    const client = new PgClient({ connectionString: url.toString() });
    await client.connect();
    return client;
  };
  const admin = await connect(new URL(databaseUrl).pathname.slice(1) || 'postgres');
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount === 0) return 'missing';
  } finally {
    await admin.end();
  }
  const db = await connect(database);
  try {
    const { rows } = await db.query<{ present: boolean }>("SELECT to_regclass('schema_version') IS NOT NULL AS present");
    return rows[0]?.present ? 'versioned' : 'empty';
  } finally {
    await db.end();
  }
}

/** The server's config file, in the layout of the samples in the server module (config/development-postgres12.yaml). */
export function renderServerConfig(options: {
  readonly databaseUrl: string;
  readonly numHistoryShards: number;
  readonly ports: { readonly frontend: number; readonly frontendHttp: number; readonly metrics: number; readonly internal: readonly number[] };
  readonly dynamicConfigFile: string;
}): string {
  const url = new URL(options.databaseUrl);
  const [frontendMembership, historyGrpc, historyMembership, matchingGrpc, matchingMembership, workerGrpc, workerMembership] = options.ports.internal;
  const store = (database: string, maxConns: number) => `      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${url.hostname}:${url.port || '5432'}"
        connectProtocol: tcp
        user: ${JSON.stringify(decodeURIComponent(url.username))}
        password: ${JSON.stringify(decodeURIComponent(url.password))}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpc: number | undefined, membership: number | undefined, extra = '') => `    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${extra}`;
  return `# Written by Ferry (temporal/cluster.ts) on every start; edit the code, not this file.
log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${options.numHistoryShards}
  datastores:
    postgres-default:
${store(TEMPORAL_DATABASES.main, 20)}
    postgres-visibility:
${store(TEMPORAL_DATABASES.visibility, 4)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:${options.ports.metrics}"

services:
  frontend:
${service(options.ports.frontend, frontendMembership, `\n      httpPort: ${options.ports.frontendHttp}`)}
  history:
${service(historyGrpc, historyMembership)}
  matching:
${service(matchingGrpc, matchingMembership)}
  worker:
${service(workerGrpc, workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:${options.ports.frontend}"

dcRedirectionPolicy:
  policy: noop

dynamicConfigClient:
  filepath: ${JSON.stringify(options.dynamicConfigFile)}
  pollInterval: 10s
`;
}

export function renderDynamicConfig(values: Readonly<Record<string, string | number | boolean>>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}:\n  - value: ${JSON.stringify(value)}\n`)
    .join('');
}

/** Sets up the schema, writes the config, starts the server and waits until Ferry can use it. */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const port = options.port ?? 7233;
  const namespace = options.namespace ?? 'default';
  const configDir = path.join(options.dir, 'config');
  const logFile = path.join(options.dir, 'server.log');
  fs.mkdirSync(configDir, { recursive: true });
  await setupTemporalSchema(options.binaries, options.databaseUrl);

  // Internal ports are picked afresh on every start; only the frontend's is anyone else's business.
  // Membership ports are stored in a smallint column, so they must be below 32768, where the
  // system's ephemeral range (which freePort draws from) does not reach.
  const [frontendHttp, metrics, historyGrpc, matchingGrpc, workerGrpc] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
  const [frontendMembership, historyMembership, matchingMembership, workerMembership] = await freeLowPorts(4);
  const internal = [frontendMembership!, historyGrpc!, historyMembership!, matchingGrpc!, matchingMembership!, workerGrpc!, workerMembership!];
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig.yaml');
  fs.writeFileSync(dynamicConfigFile, renderDynamicConfig({ ...FERRY_DYNAMIC_CONFIG, ...options.dynamicConfig }));
  fs.writeFileSync(
    path.join(configDir, 'ferry.yaml'),
    renderServerConfig({ databaseUrl: options.databaseUrl, numHistoryShards: options.numHistoryShards ?? 4, ports: { frontend: port, frontendHttp: frontendHttp!, metrics: metrics!, internal }, dynamicConfigFile }),
    { mode: 0o600 },
  );

  const log = fs.openSync(logFile, 'a');
  // Its own process group: a terminal's Ctrl-C reaches only `npm run cluster`, which stops components in order.
  // No authorizer: the frontend listens on 127.0.0.1 only (see the README on authentication in production).
  const child = spawn(options.binaries.server, ['--root', options.dir, '--config', 'config', '--env', 'ferry', '--allow-no-auth', 'start'], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  const address = `127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntilUsable(address, namespace, options.retentionHours ?? 72, child, options.readyTimeoutMs ?? 120_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new TemporalClusterError(`the Temporal server did not start on ${address}: ${(err as Error).message}\n${logTail(logFile)}`, logFile, { cause: err });
  }
  return { address, metricsUrl: `http://127.0.0.1:${metrics}/metrics`, pid: child.pid, exited, stop: () => stopChild(child, 30_000) };
}

/**
 * Ready means usable by Ferry, not merely listening: the namespace exists, Ferry's search attributes
 * are registered, and a workflow carrying them starts (every service has seen both).
 */
async function waitUntilUsable(address: string, namespace: string, retentionHours: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  await waitUntilServing(
    address,
    child,
    async (connection) => {
      await ensureNamespace(connection, namespace, retentionHours);
      await ensureSearchAttributes(address, namespace);
      await probe(connection, namespace);
    },
    { timeoutMs, intervalMs: 500, what: `the Temporal server on ${address} to serve namespace ${namespace}` },
  );
}

async function ensureNamespace(connection: Connection, namespace: string, retentionHours: number): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if ((err as { code?: number }).code !== 5 /* NOT_FOUND */) throw err;
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(retentionHours * 3600) } });
  }
}

async function probe(connection: Connection, namespace: string): Promise<void> {
  const client = new Client({ connection, namespace });
  const handle = await client.workflow.start('ferryClusterProbe', {
    taskQueue: 'ferry-cluster-probe',
    workflowId: `ferry-cluster-probe-${process.pid}-${Date.now()}`,
    typedSearchAttributes: [
      { key: searchAttributes.sourceId, value: 'probe' },
      { key: searchAttributes.userKey, value: 'probe' },
      { key: searchAttributes.stuckDestinations, value: ['probe'] },
      { key: searchAttributes.pausedDestinations, value: ['probe'] },
    ],
  });
  await handle.terminate('readiness probe of npm run cluster');
}

/** `count` distinct ports between 10000 and 32767 that were free a moment ago. */
async function freeLowPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt > 1_000) throw new TemporalClusterError('no free port below 32768 for the server\'s membership');
    const port = 10_000 + Math.floor(Math.random() * (32_767 - 10_000));
    if (!ports.has(port) && (await canBind(port))) ports.add(port);
  }
  return [...ports];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function logTail(file: string, bytes = 3_000): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '';
  }
}
