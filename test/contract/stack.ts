/**
 * Ferry as a user runs it, for the contract suite: Temporal and PostgreSQL through the code path of
 * `npm start`, then the worker and the gateway as separate processes from dist/. The suite judges the
 * stack only by what users see: HTTP answers, what receivers get, and rows they can query.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { PROJECT_ROOT } from '../../config/paths';
import { type NodeChild, startNode } from '../../processes/children';
import { type Stack, startStack } from '../../processes/stack';

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
  // The gateway's store timeout, before it answers 503 (each design reads its own variable).
  FERRY_SIGNAL_TIMEOUT_MS: '2000',
  FERRY_LOG_WRITE_TIMEOUT_MS: '2000',
  FERRY_MAX_REQUEST_KB: '4',
  // A worker killed mid-delivery is noticed after this long.
  FERRY_DELIVER_TIMEOUT_MS: '4000',
  FERRY_FAILURE_BACKOFF_INITIAL_MS: '300',
  FERRY_FAILURE_BACKOFF_MAX_MS: '1000',
};

export class ContractStack {
  worker!: NodeChild;
  gateway!: NodeChild;
  gatewayUrl = '';
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
    this.gateway = await startNode('gateway', [path.join(PROJECT_ROOT, 'dist', 'api', 'server.js')], {
      env: this.env,
      readyText: 'gateway listening',
      logFile: path.join(this.dir, 'gateway.log'),
    });
    const port = /"port":(\d+)/.exec(this.gateway.output())?.[1];
    if (!port) throw new Error(`the gateway did not report its port:\n${this.gateway.output()}`);
    this.gatewayUrl = `http://127.0.0.1:${port}`;
  }

  async startWorker(): Promise<void> {
    this.worker = await startNode('worker', ['--max-old-space-size=512', path.join(PROJECT_ROOT, 'dist', 'workers', 'worker.js')], {
      env: this.env,
      readyText: 'worker running',
      logFile: path.join(this.dir, 'worker.log'),
    });
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
    for (const pid of this.storePids()) process.kill(pid, 'SIGSTOP');
  }

  thawStores(): void {
    for (const pid of this.storePids()) process.kill(pid, 'SIGCONT');
  }

  /** Rows a user can query; `undefined` when the table does not exist in this version of Ferry. */
  async rowsIfTableExists(table: string, sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>> | undefined> {
    const { rows } = await this.pool.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
    if (!rows[0]?.exists) return undefined;
    return (await this.pool.query(sql, params)).rows;
  }

  async stop(): Promise<void> {
    this.thawStores();
    await this.gateway?.stop();
    await this.worker?.stop();
    await this.pool?.end();
    await this.infra?.process.stop(60_000);
    if (!process.env.FERRY_TEST_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private storePids(): number[] {
    const { temporal, postgres } = this.infra.pids;
    return [...(temporal ? [temporal] : []), ...(postgres ? [postgres, ...descendants(postgres)] : [])];
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
