/**
 * An in-process Ferry for integration tests: the real gateway app writing the log, the real relay,
 * and the real worker (workflows and activities), against the suite's Temporal dev server and
 * PostgreSQL. Each pipeline has a task queue and a database schema of its own, so that its relay
 * forwards only its own log to its own worker.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import pino, { type Logger } from 'pino';
import { type Activities, createActivities } from '../../activities';
import type { PipelineSettings } from '../../workflows/settings';
import { createApp, type GatewayOptions } from '../../api/app';
import { createHealthCheck } from '../../api/health';
import { parseWorkspace, type Workspace } from '../../config/workspace';
import { TransformationLoader } from '../../transformations/loader';
import { migrate } from '../../db/migrate';
import { createAlertActivities } from '../../activities/alerts';
import { createControlActivities } from '../../activities/control';
import { configuredChannels, type AlertConfig } from '../../config/alertEnv';
import { HealthCounters } from '../../control/health';
import { ControlCache, PIPELINE_MODES } from '../../control/state';
import { SupervisorClient } from '../../ops/supervisorClient';
import { HealthReporter } from '../../workers/healthReporter';
import type { SupervisorSettings } from '../../workflows/supervisorState';
import { createPool } from '../../db/pool';
import { ensurePartitions } from '../../log/partitions';
import { LOG_WRITER_APPLICATION, LogWriter } from '../../log/writer';
import type { LogWriteMetrics } from '../../metrics/gateway';
import type { WorkerMetrics } from '../../metrics/worker';
import { Relay } from '../../relay/relay';
import { pipelineWorkflowId } from '../../temporal/names';
import { createPipelineWorker } from '../../workers/pipelineWorker';
import { ReplayClient } from '../../ops/replayClient';
import { createSupervisorWorker } from '../../workers/supervisorWorker';
import { lanesQuery } from '../../workflows/definitions';
import type { LaneSnapshot } from '../../workflows/state';

export const TEST_SETTINGS: PipelineSettings = {
  maxBatchSize: 20,
  idleTimeoutMs: 60_000,
  continueAsNewAfterSignals: 2_000,
  continueAsNewAfterEvents: 10_000,
  dedupWindowMs: 3_600_000,
  dedupMaxEntries: 10_000,
  deliverTimeoutMs: 15_000,
  logHoldAfterMs: 24 * 3_600_000,
  failureBackoff: { initialMs: 500, maxMs: 2_000 },
};

export function testInfra(): { temporalAddress: string; databaseUrl: string; workflowBundlePath: string } {
  const temporalAddress = process.env.FERRY_TEST_TEMPORAL_ADDRESS;
  const databaseUrl = process.env.FERRY_TEST_DATABASE_URL;
  const workflowBundlePath = process.env.FERRY_TEST_WORKFLOW_BUNDLE;
  if (!temporalAddress || !databaseUrl || !workflowBundlePath) throw new Error('test infrastructure not started (globalSetup)');
  return { temporalAddress, databaseUrl, workflowBundlePath };
}

let counter = 0;
/** Ids unique across test runs against the same (possibly long-lived) Temporal server. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/**
 * A database schema of the test's own, first on its pool's search path, with Ferry's tables migrated
 * and the log's partitions from yesterday on: a log that no other test writes to. Drop it with dropSchema.
 */
export async function migratedSchema(prefix: string, poolSize: number): Promise<{ schema: string; pool: Pool }> {
  const schema = uniqueId(prefix).replace(/[^a-z0-9_]/gi, '_').toLowerCase();
  const admin = createPool(testInfra().databaseUrl, 1);
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const pool = createPool(testInfra().databaseUrl, poolSize, { schema });
  await migrate(pool);
  await ensurePartitions(pool, { from: new Date(Date.now() - 86_400_000), days: 3 });
  return { schema, pool };
}

/** Drops a schema migratedSchema made, and ends its pool. */
export async function dropSchema({ schema, pool }: { schema: string; pool: Pool }): Promise<void> {
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined);
  await pool.end();
}

export interface TestPipelineOptions {
  /** A workspace document, validated as FERRY_WORKSPACE_CONFIG would be. */
  readonly workspace: unknown;
  readonly settings?: Partial<PipelineSettings>;
  /**
   * What the relay hands to the runs it starts, over `settings`; the worker's settings activity answers
   * with `settings` alone. @default the same as the worker's, as in a worker process
   */
  readonly relaySettings?: Partial<PipelineSettings>;
  readonly httpTimeoutMs?: number;
  /** Run the worker in this process. @default true */
  readonly worker?: boolean;
  /** Another Temporal server than the suite's (e.g. one the test restarts). */
  readonly temporalAddress?: string;
  /** Run the relay in this process. @default true */
  readonly relay?: boolean;
  /**
   * Run the supervisor: the worker reports to it, consults its pauses and degraded mode, and sends its
   * alerts to `alertWebhookUrl`. Settings default to TEST_SUPERVISOR_SETTINGS.
   */
  readonly supervisor?: { readonly settings?: Partial<SupervisorSettings>; readonly alertWebhookUrl?: string };
  /** Workflow code other than the suite's bundle (a deliberately broken release). */
  readonly workflowBundlePath?: string;
  /** Where the relay and the delivery steps count, as the worker process does. @default not counted */
  readonly metrics?: WorkerMetrics;
  /** The relay's and the delivery steps' log. @default silent */
  readonly logger?: Logger;
  /** Wraps the worker's activities, to slow or break one of them. @default as they are */
  readonly activities?: (activities: Activities) => Activities;
}

/** Small windows, so that a test sees the breaker act within seconds. */
export const TEST_SUPERVISOR_SETTINGS: SupervisorSettings = {
  breaker: { failureRate: 0.5, minAttempts: 5, windowMs: 10_000, probeAfterMs: 3_000 },
  breakerOverrides: {},
  maxProbeAfterMs: 30_000,
  probeLanes: 3,
  selfFailureThreshold: 5,
  workerStartThreshold: 50,
  windowMs: 30_000,
  healthyPeriodMs: 10 * 60_000,
};

/** Buckets of a test pipeline's log: few, so that bucket ownership is easy to reason about. */
export const TEST_BUCKETS = 8;

export class TestPipeline {
  readonly taskQueue = uniqueId('tq');
  workspace!: Workspace;
  pool!: Pool;
  client!: Client;
  gatewayUrl = '';
  connection!: Connection;
  private nativeConnection?: NativeConnection;
  private worker?: Worker;
  private supervisorWorker?: Worker;
  private workerRun?: Promise<void>;
  private server!: Server;
  private relay?: Relay;
  private control?: ControlCache;
  private reporter?: HealthReporter;
  /** The gateways' log writers' connections, named as the relay expects. */
  private writerPool?: Pool;
  /** The workflow code the next started worker runs: a test can swap it, as a deployment does. */
  workflowBundlePath = '';
  /** The database schema this pipeline's tables live in. */
  readonly schema = uniqueId('ferry').replace(/[^a-z0-9_]/gi, '_').toLowerCase();

  private constructor(private readonly options: TestPipelineOptions) {}

  static async start(options: TestPipelineOptions): Promise<TestPipeline> {
    const pipeline = new TestPipeline(options);
    await pipeline.init();
    return pipeline;
  }

  private async init(): Promise<void> {
    const infra = testInfra();
    this.workflowBundlePath = this.options.workflowBundlePath ?? infra.workflowBundlePath;
    this.workspace = parseWorkspace(this.options.workspace, 'test workspace', { compiler: (baseDir) => new TransformationLoader(baseDir) });
    const admin = createPool(infra.databaseUrl, 1);
    await admin.query(`CREATE SCHEMA "${this.schema}"`);
    await admin.end();
    this.pool = createPool(infra.databaseUrl, 12, { schema: this.schema });
    await migrate(this.pool);
    await ensurePartitions(this.pool);
    this.connection = await Connection.connect({ address: this.temporalAddress });
    this.client = new Client({ connection: this.connection, namespace: 'default' });
    if (this.options.worker !== false) await this.startWorker();
    if (this.options.relay !== false) await this.startRelay();
    const logger = pino({ level: 'silent' });
    const app = createApp({ workspace: this.workspace, sink: this.logWriter(), health: createHealthCheck({ connection: this.connection, pool: this.pool }), logger });
    this.server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    this.gatewayUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** DATABASE_URL for processes that must see this pipeline's tables (its schema first on the search path). */
  get databaseUrl(): string {
    const url = new URL(testInfra().databaseUrl);
    url.searchParams.set('options', `-c search_path=${this.schema}`);
    return url.toString();
  }

  /** A log writer for this pipeline's log, as a gateway has. */
  logWriter(options: { timeoutMs?: number; metrics?: LogWriteMetrics } = {}): LogWriter {
    this.writerPool ??= createPool(testInfra().databaseUrl, 4, { schema: this.schema, applicationName: LOG_WRITER_APPLICATION });
    return new LogWriter({ pool: this.writerPool, buckets: TEST_BUCKETS, writers: 2, timeoutMs: options.timeoutMs ?? 10_000, metrics: options.metrics });
  }

  /** Starts (again) the relay of this pipeline's log, forwarding to its task queue. */
  async startRelay(): Promise<void> {
    if (this.relay) return;
    this.relay = new Relay({
      pool: this.pool,
      databaseUrl: testInfra().databaseUrl,
      client: this.client,
      taskQueue: this.taskQueue,
      buckets: TEST_BUCKETS,
      id: uniqueId('relay'),
      logger: this.options.logger?.child({ component: 'relay' }) ?? pino({ level: 'silent' }),
      leaseMs: 2_000,
      forwarding: () => this.control?.current.mode !== PIPELINE_MODES.degraded,
      metrics: this.options.metrics?.relay,
      pipelineSettings: { ...this.settings, ...this.options.relaySettings },
    });
    await this.relay.start();
  }

  async stopRelay(): Promise<void> {
    const relay = this.relay;
    this.relay = undefined;
    await relay?.stop();
  }

  get temporalAddress(): string {
    return this.options.temporalAddress ?? testInfra().temporalAddress;
  }

  get settings(): PipelineSettings {
    return { ...TEST_SETTINGS, ...this.options.settings };
  }

  async startWorker(): Promise<void> {
    if (this.worker) return;
    this.nativeConnection ??= await NativeConnection.connect({ address: this.temporalAddress });
    const supervisor = this.options.supervisor;
    if (supervisor && !this.control) {
      this.control = new ControlCache(this.pool, 300);
      await this.control.start();
    }
    const health = supervisor ? new HealthCounters() : undefined;
    const alertConfig: AlertConfig = supervisor?.alertWebhookUrl ? { webhook: { url: supervisor.alertWebhookUrl } } : {};
    this.worker = await createPipelineWorker({
      connection: this.nativeConnection,
      namespace: 'default',
      taskQueue: this.taskQueue,
      activities: (this.options.activities ?? ((a) => a))(
        createActivities({
          pool: this.pool,
          workspace: this.workspace,
          config: { httpTimeoutMs: this.options.httpTimeoutMs ?? 5_000, transformTimeoutMs: 15_000 },
          control: this.control,
          health,
          metrics: this.options.metrics?.delivery,
          logger: this.options.logger?.child({ component: 'delivery' }),
        }),
      ),
      settings: this.settings,
      health,
      workflowBundlePath: this.workflowBundlePath,
    });
    const runs = [this.worker.run()];
    if (supervisor) {
      this.supervisorWorker = await createSupervisorWorker({
        connection: this.nativeConnection,
        namespace: 'default',
        taskQueue: this.taskQueue,
        workflowBundlePath: this.workflowBundlePath,
        health,
        activities: {
          ...createControlActivities({ pool: this.pool, client: this.client }),
          ...createAlertActivities({ config: alertConfig, logger: pino({ level: 'silent' }) }),
          supervisorSettings: async () => ({
            settings: { ...TEST_SUPERVISOR_SETTINGS, breakerOverrides: this.workspace.breakerOverrides(), ...supervisor.settings },
            alertChannels: configuredChannels(alertConfig),
          }),
        },
      });
      runs.push(this.supervisorWorker.run());
    }
    this.workerRun = Promise.all(runs).then(() => undefined);
    if (health) {
      this.reporter = new HealthReporter({ client: this.client, taskQueue: this.taskQueue, counters: health, workerId: uniqueId('worker'), logger: pino({ level: 'silent' }), intervalMs: 1_000 });
      this.reporter.start();
    }
  }

  /** What the `ferry` CLI and the admin API use, for this pipeline. */
  ops(): SupervisorClient {
    return new SupervisorClient({ client: this.client, taskQueue: this.taskQueue, destinationIds: this.workspace.destinationIds(), pool: this.pool });
  }

  /** Replays, re-drives and resets, as the `ferry` CLI and the admin API do them, for this pipeline. */
  replays(): ReplayClient {
    return new ReplayClient({ client: this.client, taskQueue: this.taskQueue, sources: this.workspace.destinationsBySource(), pool: this.pool });
  }

  /**
   * Restarts the worker, as an operator deploys a changed workspace file: the worker loads `workspace`
   * (the gateway keeps routing by the old one, as a gateway not yet restarted would).
   */
  async restartWorker(workspace?: unknown): Promise<void> {
    await this.stopWorker();
    if (workspace !== undefined) this.workspace = parseWorkspace(workspace, 'test workspace', { compiler: (baseDir) => new TransformationLoader(baseDir) });
    await this.startWorker();
  }

  async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    await this.reporter?.stop();
    this.reporter = undefined;
    this.supervisorWorker?.shutdown();
    this.supervisorWorker = undefined;
    worker.shutdown();
    await this.workerRun;
  }

  /** POSTs JSON to the gateway with the write key as Basic user. */
  post(path: string, body: unknown, writeKey: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.gatewayUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /**
   * Another gateway in front of this pipeline (same workspace, Temporal and task queue) with some
   * options replaced, e.g. a smaller size limit or another mode source. The caller closes it.
   */
  async startGateway(overrides: Partial<GatewayOptions> = {}): Promise<{ url: string; close(): Promise<void> }> {
    const app = createApp({
      workspace: this.workspace,
      sink: this.logWriter(),
      health: createHealthCheck({ connection: this.connection, pool: this.pool }),
      logger: pino({ level: 'silent' }),
      ...overrides,
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  workflowId(sourceId: string, userId: string): string {
    return pipelineWorkflowId(sourceId, `user:${userId}`);
  }

  lanes(workflowId: string): Promise<LaneSnapshot[]> {
    return this.client.workflow.getHandle(workflowId).query(lanesQuery);
  }

  async deadLetters(destinationId: string): Promise<Array<Record<string, unknown>>> {
    const { rows } = await this.pool.query('SELECT * FROM dead_letters WHERE destination_id = $1 ORDER BY id', [destinationId]);
    return rows;
  }

  /** Rows of this pipeline's log, in relay order, for tests of what the gateway stored. */
  async logRows(where = 'true', params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    const { rows } = await this.pool.query(`SELECT seq::float8 AS seq, source_id, user_key, bucket, message_id, event FROM event_log WHERE ${where} ORDER BY event_log.xid, event_log.seq`, params);
    return rows;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.stopRelay();
    await this.stopWorker();
    this.control?.stop();
    await this.nativeConnection?.close();
    await this.connection.close();
    await this.writerPool?.end();
    await this.pool.query(`DROP SCHEMA "${this.schema}" CASCADE`).catch(() => undefined);
    await this.pool.end();
  }
}

/** A one-source workspace with the given destinations, in RudderStack's backend-config shape. */
export function workspaceWith(sourceId: string, writeKey: string, destinations: unknown[]): unknown {
  return { sources: [{ id: sourceId, writeKey, enabled: true, destinations }] };
}

export function webhookDestination(id: string, url: string, retry?: Record<string, number>): unknown {
  return {
    id,
    enabled: true,
    destinationDefinition: { name: 'WEBHOOK' },
    config: { webhookUrl: url },
    retry: retry ?? { initialBackoffMs: 200, maxBackoffMs: 1_000 },
  };
}
