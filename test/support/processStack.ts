/**
 * Ferry as a user runs it, for the contract suite and the recovery tests: Temporal and PostgreSQL
 * through the code path of `npm start` (which restarts them when they die), then workers and gateways
 * as separate processes from dist/. Tests judge the stack by what users see: HTTP answers, what
 * receivers get, and rows they can query; and they break its parts the way production breaks them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { PROJECT_ROOT } from '../../config/paths';
import { type NodeChild, startNode } from '../../processes/children';
import { type Stack, startStack } from '../../processes/stack';
import { pipelineWorkflowId } from '../../temporal/names';
import { lanesQuery } from '../../workflows/definitions';

export interface ContractStackOptions {
  /** The workspace document (FERRY_WORKSPACE_CONFIG). */
  readonly workspace: unknown;
  /** More environment for the worker and the gateway. */
  readonly env?: Record<string, string>;
}

/** Settings that make failures show quickly, the way an operator might tune a test environment. */
const FAST_FAILURE_ENV = {
  // Info, for the lines that say a component is ready (and which port the gateway took).
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  PORT: '0',
  // How long the gateway waits for the log to commit before it answers 503.
  FERRY_LOG_WRITE_TIMEOUT_MS: '2000',
  FERRY_MAX_REQUEST_KB: '4',
  // A worker killed mid-delivery is noticed after this long.
  FERRY_DELIVER_TIMEOUT_MS: '4000',
  FERRY_FAILURE_BACKOFF_INITIAL_MS: '300',
  FERRY_FAILURE_BACKOFF_MAX_MS: '1000',
};

export class ContractStack {
  /** The first worker and gateway; startWorker() and startGateway() add more. */
  worker!: NodeChild;
  gateway!: NodeChild;
  gatewayUrl = '';
  readonly workers: NodeChild[] = [];
  readonly gateways: Array<{ readonly process: NodeChild; readonly url: string }> = [];
  pool!: Pool;
  private infra!: Stack;
  private env!: NodeJS.ProcessEnv;
  private readonly dir: string;

  private constructor(private readonly options: ContractStackOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-contract-'));
    // The embedded PostgreSQL runs as the postgres user when the suite runs as root.
    fs.chmodSync(this.dir, 0o755);
  }

  static async start(options: ContractStackOptions): Promise<ContractStack> {
    const stack = new ContractStack(options);
    await stack.init();
    return stack;
  }

  private async init(): Promise<void> {
    const workspaceFile = path.join(this.dir, 'workspace.json');
    fs.writeFileSync(workspaceFile, JSON.stringify(this.options.workspace, null, 2));
    this.infra = await startStack(this.dir);
    this.env = {
      ...FAST_FAILURE_ENV,
      TEMPORAL_ADDRESS: this.infra.temporalAddress,
      DATABASE_URL: this.infra.databaseUrl,
      FERRY_WORKSPACE_CONFIG: workspaceFile,
      ...this.options.env,
    };
    this.pool = new Pool({ connectionString: this.infra.databaseUrl, max: 2 });
    this.pool.on('error', () => undefined);
    await this.startWorker();
    const gateway = await this.startGateway();
    this.gateway = gateway.process;
    this.gatewayUrl = gateway.url;
  }

  /** Rewrites the workspace file, as an operator deploys a change: processes started from now on read it. */
  writeWorkspace(workspace: unknown): void {
    fs.writeFileSync(path.join(this.dir, 'workspace.json'), JSON.stringify(workspace, null, 2));
  }

  /** Starts a(nother) worker process; the first one is also `worker`. */
  async startWorker(env: Record<string, string> = {}): Promise<NodeChild> {
    const worker = await startNode(`worker-${this.workers.length + 1}`, ['--max-old-space-size=512', path.join(PROJECT_ROOT, 'dist', 'workers', 'worker.js')], {
      env: { ...this.env, ...env },
      readyText: 'worker running',
      logFile: path.join(this.dir, `worker-${this.workers.length + 1}.log`),
    });
    this.workers.push(worker);
    this.worker = worker;
    return worker;
  }

  /** Starts a(nother) gateway process on a port of its own choosing. */
  async startGateway(): Promise<{ process: NodeChild; url: string }> {
    const child = await startNode(`gateway-${this.gateways.length + 1}`, [path.join(PROJECT_ROOT, 'dist', 'api', 'server.js')], {
      env: this.env,
      readyText: 'gateway listening',
      logFile: path.join(this.dir, `gateway-${this.gateways.length + 1}.log`),
    });
    const port = /"port":(\d+)/.exec(child.output())?.[1];
    if (!port) throw new Error(`the gateway did not report its port:\n${child.output()}`);
    const gateway = { process: child, url: `http://127.0.0.1:${port}` };
    this.gateways.push(gateway);
    return gateway;
  }

  /** The Temporal dev server's process, which `npm start`'s supervisor restarts when it dies. */
  temporalPid(): number | undefined {
    return readPid(path.join(this.infra.dataDir, 'temporal', 'server.pid'));
  }

  /** The PostgreSQL postmaster's process, which `npm start`'s supervisor restarts when it dies. */
  postgresPid(): number | undefined {
    return readPid(path.join(this.infra.dataDir, 'postgres', 'postmaster.pid'));
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the Temporal server alone. */
  signalTemporal(sig: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void {
    const pid = this.temporalPid();
    if (pid) signal(pid, sig);
  }

  /** POSTs JSON with the write key as the Basic user, as the SDKs do. */
  post(urlPath: string, body: unknown, writeKey: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.gatewayUrl}${urlPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /**
   * Freezes every process that stores events (SIGSTOP): the Temporal server and all PostgreSQL
   * processes. Whatever the design, the gateway then has nowhere to store an event.
   */
  freezeStores(): void {
    for (const pid of this.storePids()) signal(pid, 'SIGSTOP');
  }

  thawStores(): void {
    for (const pid of this.storePids()) signal(pid, 'SIGCONT');
  }

  /** Rows a user can query; `undefined` when the table does not exist in this version of Ferry. */
  async rowsIfTableExists(table: string, sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>> | undefined> {
    const { rows } = await this.pool.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
    if (!rows[0]?.exists) return undefined;
    return (await this.pool.query(sql, params)).rows;
  }

  /**
   * Where undelivered events are stuck, for a failed test's message: their log rows, their buckets'
   * relay cursors, their recorded outcomes and dead letters, and their users' workflows as Temporal
   * and the workflows' lanes query report them.
   */
  async diagnose(messageIds: readonly string[]): Promise<Record<string, unknown>> {
    const query = (sql: string, params: unknown[]) => this.pool.query(sql, params).then((r) => r.rows, (e: unknown) => String(e));
    const logged = await query('SELECT message_id, source_id, user_key, xid::text, seq, bucket, logged_at FROM event_log WHERE message_id = ANY($1)', [messageIds]);
    const rows = Array.isArray(logged) ? (logged as Array<{ source_id: string; user_key: string; bucket: number }>) : [];
    const workflows = [...new Set(rows.map((r) => pipelineWorkflowId(r.source_id, r.user_key)))].slice(0, 3);
    const connection = await Connection.connect({ address: this.infra.temporalAddress, connectTimeout: 5_000 }).catch(() => undefined);
    const client = connection && new Client({ connection });
    const temporal = await Promise.all(
      workflows.map(async (workflowId) => {
        const handle = client?.workflow.getHandle(workflowId);
        const described = await handle?.describe().then((d) => ({ runId: d.runId, status: d.status.name, historyLength: d.historyLength }), (e: unknown) => String(e));
        const lanes = await handle?.query(lanesQuery).catch((e: unknown) => String(e));
        return { workflowId, described, lanes };
      }),
    );
    await connection?.close();
    return {
      logged,
      cursors: await query('SELECT bucket, owner, epoch, cursor_xid::text, cursor_seq, lease_until, relayed_at FROM relay_buckets WHERE bucket = ANY($1)', [[...new Set(rows.map((r) => r.bucket))]]),
      outcomes: await query('SELECT workflow_id, destination_id, message_id, result, settled_at FROM delivery_outcomes WHERE message_id = ANY($1)', [messageIds]),
      deadLetters: await query("SELECT destination_id, event->>'messageId' AS message_id, stage, reason FROM dead_letters WHERE event->>'messageId' = ANY($1)", [messageIds]),
      temporal,
    };
  }

  async stop(): Promise<void> {
    this.thawStores();
    await Promise.all(this.gateways.map((g) => g.process.stop()));
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.pool?.end();
    await this.infra?.process.stop(60_000);
    if (!process.env.FERRY_TEST_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private storePids(): number[] {
    const temporal = this.temporalPid();
    const postgres = this.postgresPid();
    return [...(temporal ? [temporal] : []), ...(postgres ? [postgres, ...descendants(postgres)] : [])];
  }
}

/** Signals a process that may have exited meanwhile. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Every process below `pid`, from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${child}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), child]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      visit(c);
    }
  };
  visit(pid);
  return out;
}
