/**
 * Pieces the benchmarks share beyond the process helpers in processes/: a temp dir, Ferry started as
 * `npm start` runs it, CPU and memory readings from /proc, percentiles, and a webhook sink that
 * records what arrives.
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GATEWAY_SEMI_SPACE_MB } from '../../config/env';
import { type NodeChild, startNode } from '../../processes/children';
import { freePort } from '../../processes/ports';
import { type Stack, startStack } from '../../processes/stack';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

export const say = (message: string) => process.stderr.write(`[bench] ${message}\n`);

/** A temp dir the embedded PostgreSQL (which runs as `postgres` when we are root) can enter. */
export function benchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export interface Ferry {
  readonly stack: Stack;
  readonly worker: NodeChild;
  readonly gateway: NodeChild;
  readonly gatewayUrl: string;
  /** Stops the gateway, the worker, then Temporal and PostgreSQL. */
  stop(): Promise<void>;
}

export interface FerryOptions {
  /** The worker's node flags. @default npm start's heap cap, --max-old-space-size=512 */
  readonly workerNodeArgs?: readonly string[];
  /** The real Temporal server on the embedded PostgreSQL (`npm start -- --cluster`), not the dev server. @default false */
  readonly cluster?: boolean;
}

/**
 * Ferry in `dir` as `npm start` runs it: Temporal and PostgreSQL, then a worker and a gateway as
 * processes of their own, on `workspace`.
 */
export async function startFerry(dir: string, workspace: unknown, { workerNodeArgs = ['--max-old-space-size=512'], cluster = false }: FerryOptions = {}): Promise<Ferry> {
  const workspaceFile = path.join(dir, 'workspace.json');
  fs.writeFileSync(workspaceFile, JSON.stringify(workspace));
  say(`starting the stack in ${dir}; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const stack = await startStack(dir, { cluster });
  const port = await freePort();
  const env = { TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, FERRY_WORKSPACE_CONFIG: workspaceFile, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' };
  const worker = await startNode('worker', [...workerNodeArgs, path.join(ROOT, 'dist', 'workers', 'worker.js')], { env, readyText: 'worker running', logFile: path.join(dir, 'worker.log') });
  const gateway = await startNode('gateway', [`--max-semi-space-size=${GATEWAY_SEMI_SPACE_MB}`, path.join(ROOT, 'dist', 'api', 'server.js')], { env, readyText: 'gateway listening', logFile: path.join(dir, 'gateway.log') });
  return {
    stack,
    worker,
    gateway,
    gatewayUrl: `http://127.0.0.1:${port}`,
    async stop() {
      await gateway.stop();
      await worker.stop();
      await stack.process.stop(60_000);
    },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Resident and peak resident memory of a process, in MB, from /proc. */
export function memoryMb(pid: number | undefined): { rss: number; peak: number } {
  if (!pid) return { rss: 0, peak: 0 };
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Sink {
  readonly url: string;
  /** Called with each delivered body and its arrival time. */
  onBody(listener: (body: Record<string, unknown>, at: number) => void): void;
  close(): Promise<void>;
}

/**
 * A webhook destination that hands each body to its listeners as it arrives, and answers 200 at once
 * or, for a slow destination, after `delayMs`.
 */
export function startSink({ delayMs = 0 }: { delayMs?: number } = {}): Promise<Sink> {
  const listeners: Array<(body: Record<string, unknown>, at: number) => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      if (delayMs > 0) setTimeout(() => res.writeHead(200).end('ok'), delayMs);
      else res.writeHead(200).end('ok');
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        for (const listener of listeners) listener(body, at);
      } catch {
        // Not an event; ignore.
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}/in`,
        onBody: (listener) => listeners.push(listener),
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}
