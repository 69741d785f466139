/**
 * Environment settings of each entry point, parsed once with zod at startup. A bad value fails the
 * start with a message that names the variable.
 */
import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../temporal/names';
import { addressPolicyEnv } from './addressPolicyEnv';
import { alertEnv } from './alertEnv';
import { ConfigError } from './errors';

const port = z.coerce.number().int().min(1).max(65535);
/** A port to listen on; 0 lets the system pick a free one, which the process then logs. */
const listenPort = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** The worker's /metrics port (the Prometheus exporter convention); the gateway serves /metrics on PORT. */
export const DEFAULT_WORKER_METRICS_PORT = 9464;
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Where Ferry finds Temporal. */
export const temporalEnv = {
  /** host:port of the Temporal frontend. @default 127.0.0.1:7233 */
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  /** @default default */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** @default ferry-pipeline */
  FERRY_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
};

const shared = {
  ...temporalEnv,
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
  /** Buckets users hash into for the relays; every gateway and worker must agree, and it is fixed once the log exists. */
  FERRY_LOG_BUCKETS: positiveInt.max(1024).default(64),
  /** Path of the workspace JSON; the demo workspace when unset. */
  FERRY_WORKSPACE_CONFIG: z.string().min(1).optional(),
  LOG_LEVEL: logLevel.default('info'),
};

export const workerEnvSchema = z.object({
  ...shared,
  FERRY_MAX_BATCH_SIZE: positiveInt.max(500).default(100),
  FERRY_IDLE_TIMEOUT_MS: positiveInt.default(5 * 60_000),
  FERRY_CAN_AFTER_SIGNALS: positiveInt.max(9_000).default(2_000),
  FERRY_CAN_AFTER_EVENTS: positiveInt.max(40_000).default(10_000),
  FERRY_DEDUP_WINDOW_MS: positiveInt.default(60 * 60_000),
  FERRY_DEDUP_MAX_ENTRIES: positiveInt.default(10_000),
  FERRY_DELIVER_TIMEOUT_MS: positiveInt.default(30_000),
  /** A workflow about to wait while holding events logged longer ago than this keeps their log partition from retention. */
  FERRY_LOG_HOLD_AFTER_MS: positiveInt.default(24 * 3_600_000),
  /** Whole days of log kept for replay; older partitions are dropped unless a row in them is still owed. */
  FERRY_LOG_RETENTION_DAYS: positiveInt.max(3_650).default(30),
  /**
   * Rows one relay batch reads at most. A user gets one signal per batch that holds rows of theirs, so
   * under a backlog larger batches mean fewer, fuller signals (see RelayOptions.batchRows).
   */
  FERRY_RELAY_BATCH_ROWS: positiveInt.max(100_000).default(50_000),
  /** Signals one relay has in flight at once. */
  FERRY_RELAY_CONCURRENCY: positiveInt.max(1_000).default(64),
  /** How long a relay's bucket lease lasts: how soon another relay takes over the buckets of one that died. */
  FERRY_RELAY_LEASE_MS: positiveInt.min(1_000).default(5_000),
  FERRY_HTTP_TIMEOUT_MS: positiveInt.default(10_000),
  FERRY_TRANSFORM_TIMEOUT_MS: positiveInt.default(30_000),
  /** Heap limit of one user-transformation isolate, in MB (isolated-vm's minimum is 8). */
  FERRY_USER_TRANSFORM_MEMORY_MB: positiveInt.min(8).default(128),
  /** Longest one call into a user transformation may run; keep it under half of FERRY_TRANSFORM_TIMEOUT_MS. */
  FERRY_USER_TRANSFORM_TIMEOUT_MS: positiveInt.default(4_000),
  /** Isolates kept per transformation version, so one slow event does not hold up the others. */
  FERRY_USER_TRANSFORM_ISOLATES: positiveInt.max(32).default(2),
  FERRY_FAILURE_BACKOFF_INITIAL_MS: positiveInt.default(10_000),
  FERRY_FAILURE_BACKOFF_MAX_MS: positiveInt.default(300_000),
  FERRY_WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.default(200),
  FERRY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt.default(200),
  FERRY_WORKER_WORKFLOW_THREADS: positiveInt.max(16).default(2),
  FERRY_WORKER_MAX_CACHED_WORKFLOWS: positiveInt.default(1_000),
  /** The circuit breaker pauses a destination when at least this share of its attempts failed... */
  FERRY_BREAKER_FAILURE_RATE: z.coerce.number().gt(0).max(1).default(0.5),
  /** ...out of at least this many... */
  FERRY_BREAKER_MIN_ATTEMPTS: positiveInt.default(20),
  /** ...within this window. */
  FERRY_BREAKER_WINDOW_MS: positiveInt.min(5_000).default(60_000),
  /** The first probe of a paused destination goes after this long; each failed probe doubles it. */
  FERRY_BREAKER_PROBE_AFTER_MS: positiveInt.default(30_000),
  /** The longest wait between probes. */
  FERRY_BREAKER_MAX_PROBE_AFTER_MS: positiveInt.default(3_600_000),
  /** Degraded mode when Ferry's own code failed this many times within FERRY_DEGRADE_WINDOW_MS... */
  FERRY_DEGRADE_SELF_FAILURES: positiveInt.default(50),
  /** ...or workers (re)started this many times in it (a crash loop). */
  FERRY_DEGRADE_WORKER_STARTS: positiveInt.default(5),
  FERRY_DEGRADE_WINDOW_MS: positiveInt.min(10_000).default(120_000),
  /** An automatic degraded mode ends after this long without a failure (doubling each time it recurs soon). */
  FERRY_DEGRADE_HEALTHY_MS: positiveInt.default(120_000),
  /** How often a worker sends the supervisor its delivery and failure counts. */
  FERRY_HEALTH_REPORT_MS: positiveInt.min(500).default(5_000),
  /** How often workers re-read the supervisor's decisions: a pause reaches every worker within this long. */
  FERRY_CONTROL_REFRESH_MS: positiveInt.min(100).max(5_000).default(1_000),
  /** Port of the worker's Prometheus /metrics listener; 0 turns it off. */
  FERRY_WORKER_METRICS_PORT: listenPort.default(DEFAULT_WORKER_METRICS_PORT),
  /** Address that listener binds; 0.0.0.0 lets a Prometheus on another host scrape it. */
  FERRY_WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * host:port where Temporal's SDK serves its own worker metrics (task slots, poll and schedule
   * latencies, sticky cache) for Prometheus, prefixed temporal_. Off when unset.
   */
  FERRY_TEMPORAL_METRICS_ADDRESS: z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port').optional(),
  ...alertEnv,
  ...addressPolicyEnv,
});
export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export const gatewayEnvSchema = z.object({
  ...shared,
  PORT: listenPort.default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Largest accepted request body after decompression, in KB. */
  FERRY_MAX_REQUEST_KB: positiveInt.default(4_000),
  /** Deepest nesting of objects and arrays in a JSON body; deeper is refused 400 before it is parsed. */
  FERRY_MAX_JSON_DEPTH: positiveInt.max(10_000).default(64),
  /** Headers a request may carry; more are refused 431. */
  FERRY_MAX_HEADERS: positiveInt.max(2_000).default(100),
  /** Bytes of a request's line and headers together (Node's maxHeaderSize); more are refused 431. */
  FERRY_MAX_HEADER_BYTES: positiveInt.min(1_024).default(16_384),
  /** Time a client has to send a request's headers before its connection is closed (slowloris). */
  FERRY_HEADERS_TIMEOUT_MS: positiveInt.default(10_000),
  /** Time a client has to send a whole request, body included. */
  FERRY_REQUEST_TIMEOUT_MS: positiveInt.default(60_000),
  /** Log writers committing in parallel. */
  FERRY_LOG_WRITERS: positiveInt.max(64).default(4),
  /** Rows one log transaction takes at most. */
  FERRY_LOG_BATCH_ROWS: positiveInt.max(10_000).default(256),
  /** How long a row waits for others to share its transaction (0: only while the previous one commits). */
  FERRY_LOG_BATCH_WAIT_MS: z.coerce.number().int().min(0).max(1_000).default(2),
  /** How long the gateway waits for the log to commit before answering 503. */
  FERRY_LOG_WRITE_TIMEOUT_MS: positiveInt.default(5_000),
  /** The commit GET /version reports; when unset, `git rev-parse HEAD` of the checkout, else "unknown". */
  FERRY_COMMIT: z.string().min(1).optional(),
  /**
   * Bearer token of the admin API (`/admin/…`: status, degrade, recover, pause, resume, stuck users).
   * When unset the admin routes do not exist. Treat it as a password: at least 16 characters.
   */
  FERRY_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});
export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;

export const devServerEnvSchema = z.object({
  FERRY_DATA_DIR: z.string().min(1).default('.data'),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_NAMESPACE: temporalEnv.TEMPORAL_NAMESPACE,
  /**
   * SQLite's `synchronous` pragma for the dev server. FULL syncs every commit, so an accepted event
   * survives a power loss; NORMAL and OFF survive a crash of any process but not of the machine, and
   * roughly double ingest throughput here. @default FULL
   */
  FERRY_TEMPORAL_SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL', 'OFF']).default('FULL'),
  /**
   * A dev server that fails every probe for this long is restarted, as one that exited is: it can get
   * stuck running but serving nothing (temporal/liveness.ts). 0 turns the probe off. @default 60000
   */
  FERRY_TEMPORAL_STUCK_AFTER_MS: z.coerce.number().int().min(0).default(60_000),
});
export type DevServerEnv = z.infer<typeof devServerEnvSchema>;

/** The default of FERRY_GATEWAY_SEMI_SPACE_MB, also for gateways the benchmarks start themselves. */
export const GATEWAY_SEMI_SPACE_MB = 32;

export const startEnvSchema = devServerEnvSchema.extend({
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  DATABASE_URL: shared.DATABASE_URL.optional(),
  FERRY_PG_PORT: port.default(54329),
  PORT: port.default(8080),
  FERRY_WORKSPACE_CONFIG: shared.FERRY_WORKSPACE_CONFIG,
  FERRY_DEMO_RECEIVER_PORT: port.default(8099),
  /**
   * V8 heap cap of the worker process (--max-old-space-size). Without one, V8 lets the heap grow far
   * past what the worker needs before collecting. @default 512
   */
  FERRY_WORKER_HEAP_MB: positiveInt.min(128).default(512),
  /**
   * Largest size of each of V8's two young-generation semi-spaces in the gateway process
   * (--max-semi-space-size). Nearly everything a request allocates dies with it; at V8's default cap
   * the gateway spent 11 % of its time collecting it, and with 32 MB it took 24-41 % more single-event
   * requests per second here (bench/README.md). @default 32
   */
  FERRY_GATEWAY_SEMI_SPACE_MB: positiveInt.max(1024).default(GATEWAY_SEMI_SPACE_MB),
  LOG_LEVEL: shared.LOG_LEVEL,
});
export type StartEnv = z.infer<typeof startEnvSchema>;

/** Parses `env` against `schema`, reporting every bad variable by name. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset", as with most 12-factor tools, so `FOO= npm start` takes the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '(env)');
    const value = cleaned[name];
    return `${name}=${value === undefined ? '(unset)' : JSON.stringify(value)}: ${issue.message}`;
  });
  const names = parsed.error.issues.map((i) => String(i.path[0])).join(', ');
  throw new ConfigError(`invalid environment:\n  ${lines.join('\n  ')}`, names);
}

/**
 * The `ferry` CLI: where Temporal is, Ferry's database for the backlog (optional: without it the
 * backlog reads as 0), and the workspace whose destinations commands may name.
 */
export const cliEnvSchema = z.object({
  ...temporalEnv,
  DATABASE_URL: shared.DATABASE_URL.optional(),
  FERRY_WORKSPACE_CONFIG: shared.FERRY_WORKSPACE_CONFIG,
});
export type CliEnv = z.infer<typeof cliEnvSchema>;
