/**
 * Ferry in the production shape, each part its own process, for the cluster tests and benchmark:
 * Temporal and PostgreSQL through `npm start`'s code path (a real Temporal server with `cluster`,
 * else the dev server), then workers, gateways and the balancer in front of them as processes the
 * caller can kill one by one, as `npm run cluster` runs them (it also restarts them; this does not).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config/paths';
import { type NodeChild, startNode } from './children';
import { type Stack, startStack } from './stack';

export interface FerryClusterOptions {
  /** Holds the data, the workspace file and every process's log; must be enterable by `postgres`. */
  readonly dir: string;
  /** The workspace document (FERRY_WORKSPACE_CONFIG). */
  readonly workspace: unknown;
  /** A real Temporal server on PostgreSQL (`cluster`) or the dev server (`dev`). */
  readonly temporal: 'cluster' | 'dev';
  /** @default 2 */
  readonly gateways?: number;
  /** @default 2 */
  readonly workers?: number;
  /** More environment for the workers and gateways. */
  readonly env?: Record<string, string>;
  /** @default ['--max-old-space-size=512'], npm start's heap cap */
  readonly workerNodeArgs?: readonly string[];
}

export interface GatewayProcess {
  readonly process: NodeChild;
  readonly url: string;
}

export class FerryCluster {
  readonly workers: NodeChild[] = [];
  readonly gateways: GatewayProcess[] = [];
  balancer!: GatewayProcess;
  stack!: Stack;
  private env: NodeJS.ProcessEnv = {};

  private constructor(private readonly options: FerryClusterOptions) {}

  static async start(options: FerryClusterOptions): Promise<FerryCluster> {
    const cluster = new FerryCluster(options);
    try {
      await cluster.init();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The balancer's URL: where clients send events. */
  get url(): string {
    return this.balancer.url;
  }

  private async init(): Promise<void> {
    const { dir } = this.options;
    const workspaceFile = path.join(dir, 'workspace.json');
    fs.writeFileSync(workspaceFile, JSON.stringify(this.options.workspace, null, 2));
    // A real server is built with Go on first use: minutes on a fresh machine.
    this.stack = await startStack(dir, { cluster: this.options.temporal === 'cluster', timeoutMs: 20 * 60_000 });
    this.env = {
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      TEMPORAL_ADDRESS: this.stack.temporalAddress,
      DATABASE_URL: this.stack.databaseUrl,
      FERRY_WORKSPACE_CONFIG: workspaceFile,
      ...this.options.env,
    };
    for (let i = 0; i < (this.options.workers ?? 2); i++) await this.startWorker();
    for (let i = 0; i < (this.options.gateways ?? 2); i++) await this.startGateway();
    const upstreams = this.gateways.map((g) => g.url).join(',');
    const balancer = await startNode('balancer', [path.join(PROJECT_ROOT, 'dist', 'scripts', 'balancer.js')], {
      env: { ...this.env, FERRY_BALANCER_UPSTREAMS: upstreams },
      readyText: 'balancer listening',
      logFile: path.join(dir, 'balancer.log'),
    });
    this.balancer = { process: balancer, url: `http://127.0.0.1:${reportedPort(balancer)}` };
  }

  async startWorker(): Promise<NodeChild> {
    const name = `worker-${this.workers.length + 1}`;
    const worker = await startNode(name, [...(this.options.workerNodeArgs ?? ['--max-old-space-size=512']), path.join(PROJECT_ROOT, 'dist', 'workers', 'worker.js')], {
      env: this.env,
      readyText: 'worker running',
      logFile: path.join(this.options.dir, `${name}.log`),
    });
    this.workers.push(worker);
    return worker;
  }

  /** A gateway on a port of its own choosing; the balancer only knows those started before it. */
  async startGateway(): Promise<GatewayProcess> {
    const name = `gateway-${this.gateways.length + 1}`;
    const child = await startNode(name, [path.join(PROJECT_ROOT, 'dist', 'api', 'server.js')], {
      env: this.env,
      readyText: 'gateway listening',
      logFile: path.join(this.options.dir, `${name}.log`),
    });
    const gateway = { process: child, url: `http://127.0.0.1:${reportedPort(child)}` };
    this.gateways.push(gateway);
    return gateway;
  }

  /** The Temporal server's pid (`npm start`'s supervisor restarts it when it dies). */
  temporalPid(): number | undefined {
    return this.stack?.pids.temporal;
  }

  async stop(): Promise<void> {
    await this.balancer?.process.stop();
    await Promise.all(this.gateways.map((g) => g.process.stop()));
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.stack?.process.stop(60_000);
  }
}

/** The port a gateway or the balancer logged when it started listening on port 0. */
function reportedPort(child: NodeChild): number {
  const port = /"port":(\d+)/.exec(child.output())?.[1];
  if (!port) throw new Error(`${child.name} did not report its port:\n${child.output().slice(-2_000)}`);
  return Number(port);
}
