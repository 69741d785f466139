/**
 * Pieces the benchmarks share: a stack of real processes on free ports (Temporal dev server and
 * PostgreSQL via dist/scripts/start.js, then the worker and gateway entry points), and a webhook
 * sink that records what arrives.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stopChild } from '../../temporal/devServer';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

export const say = (message: string) => process.stderr.write(`[bench] ${message}\n`);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A temp dir the embedded PostgreSQL (which runs as `postgres` when we are root) can enter. */
export function benchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export interface Process {
  readonly child: ChildProcess;
  readonly name: string;
  stop(): Promise<void>;
}

/** Starts a built entry point and resolves once its output contains `readyText`. */
export async function startProcess(name: string, args: string[], env: NodeJS.ProcessEnv, readyText: string, logFile: string): Promise<Process> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  let seen = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    if (seen.length < 1_000_000) seen += chunk.toString();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const deadline = Date.now() + 15 * 60_000;
  while (!seen.includes(readyText)) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}); see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`${name} not ready; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    name,
    // A stack stops its dev server and PostgreSQL before exiting, which can take a while.
    stop: () => stopChild(child, 60_000),
  };
}

export interface Infra {
  readonly temporalAddress: string;
  readonly databaseUrl: string;
  readonly process: Process;
  /** The dev server's and the PostgreSQL postmaster's pids, to measure their CPU. */
  readonly pids: { readonly temporal?: number; readonly postgres?: number };
}

export interface StackOptions {
  /** start.js's `--only` list. @default temporal,database */
  readonly only?: string;
  /** More environment for start.js and the components it runs (PORT, FERRY_WORKSPACE_CONFIG…). */
  readonly env?: Record<string, string>;
}

/** Runs dist/scripts/start.js (the code path of `npm start`) on free ports in `dir`. */
export async function startInfra(dir: string, { only = 'temporal,database', env: extra = {} }: StackOptions = {}): Promise<Infra> {
  const readyFile = path.join(dir, 'ready.json');
  const env = {
    FERRY_DATA_DIR: path.join(dir, 'stack'),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    FERRY_PG_PORT: String(await freePort()),
    ...extra,
  };
  const proc = await startProcess(
    'stack',
    [path.join(ROOT, 'dist', 'scripts', 'start.js'), '--only', only, '--ready-file', readyFile],
    env,
    'Ctrl-C stops everything',
    path.join(dir, 'stack.log'),
  );
  const ready = JSON.parse(fs.readFileSync(readyFile, 'utf8')) as { temporalAddress: string; databaseUrl: string };
  const pidFrom = (file: string) => {
    const pid = Number(fs.readFileSync(path.join(env.FERRY_DATA_DIR, file), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };
  return {
    temporalAddress: ready.temporalAddress,
    databaseUrl: ready.databaseUrl,
    process: proc,
    pids: { temporal: pidFrom('temporal/server.pid'), postgres: pidFrom('postgres/postmaster.pid') },
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

/** A webhook destination that answers 200 at once and hands each body to its listener. */
export function startSink(): Promise<Sink> {
  const listeners: Array<(body: Record<string, unknown>, at: number) => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      res.writeHead(200).end('ok');
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
