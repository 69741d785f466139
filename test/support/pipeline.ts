/**
 * An in-process Ferry for integration tests: the real gateway app and the real worker (workflows and
 * activities) against the suite's Temporal dev server and PostgreSQL, on a task queue of its own.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import pino from 'pino';
import { createActivities } from '../../activities';
import type { PipelineSettings } from '../../workflows/settings';
import { createApp, type GatewayOptions } from '../../api/app';
import { SignalDispatcher } from '../../api/dispatcher';
import { createHealthCheck } from '../../api/health';
import { parseWorkspace, type Workspace } from '../../config/workspace';
import { TransformationLoader } from '../../transformations/loader';
import { migrate } from '../../db/migrate';
import { createPool } from '../../db/pool';
import { pipelineWorkflowId } from '../../temporal/names';
import { createPipelineWorker } from '../../workers/pipelineWorker';
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
  transformTimeoutMs: 15_000,
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

export interface TestPipelineOptions {
  /** A workspace document, validated as FERRY_WORKSPACE_CONFIG would be. */
  readonly workspace: unknown;
  readonly settings?: Partial<PipelineSettings>;
  readonly httpTimeoutMs?: number;
  /** Run the worker in this process. @default true */
  readonly worker?: boolean;
  /** Another Temporal server than the suite's (e.g. one the test restarts). */
  readonly temporalAddress?: string;
}

export class TestPipeline {
  readonly taskQueue = uniqueId('tq');
  workspace!: Workspace;
  pool!: Pool;
  client!: Client;
  gatewayUrl = '';
  private connection!: Connection;
  private nativeConnection?: NativeConnection;
  private worker?: Worker;
  private workerRun?: Promise<void>;
  private server!: Server;

  private constructor(private readonly options: TestPipelineOptions) {}

  static async start(options: TestPipelineOptions): Promise<TestPipeline> {
    const pipeline = new TestPipeline(options);
    await pipeline.init();
    return pipeline;
  }

  private async init(): Promise<void> {
    const infra = testInfra();
    this.workspace = parseWorkspace(this.options.workspace, 'test workspace', { compiler: (baseDir) => new TransformationLoader(baseDir) });
    this.pool = createPool(infra.databaseUrl);
    await migrate(this.pool);
    this.connection = await Connection.connect({ address: this.temporalAddress });
    this.client = new Client({ connection: this.connection, namespace: 'default' });
    if (this.options.worker !== false) await this.startWorker();
    const logger = pino({ level: 'silent' });
    const sink = new SignalDispatcher({ client: this.client, taskQueue: this.taskQueue, signalTimeoutMs: 10_000 });
    const app = createApp({ workspace: this.workspace, sink, health: createHealthCheck({ connection: this.connection, pool: this.pool }), logger });
    this.server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    this.gatewayUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
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
    this.worker = await createPipelineWorker({
      connection: this.nativeConnection,
      namespace: 'default',
      taskQueue: this.taskQueue,
      activities: createActivities({
        pool: this.pool,
        workspace: this.workspace,
        config: { httpTimeoutMs: this.options.httpTimeoutMs ?? 5_000, transformTimeoutMs: this.settings.transformTimeoutMs },
      }),
      settings: this.settings,
      workflowBundlePath: testInfra().workflowBundlePath,
    });
    this.workerRun = this.worker.run();
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
      sink: new SignalDispatcher({ client: this.client, taskQueue: this.taskQueue, signalTimeoutMs: 10_000 }),
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

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.stopWorker();
    await this.nativeConnection?.close();
    await this.connection.close();
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
