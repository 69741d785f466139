/**
 * Pieces the benchmarks share beyond the process helpers in processes/: a temp dir, CPU and memory
 * readings from /proc, percentiles, and a webhook sink that records what arrives.
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

export const say = (message: string) => process.stderr.write(`[bench] ${message}\n`);

/** A temp dir the embedded PostgreSQL (which runs as `postgres` when we are root) can enter. */
export function benchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
  fs.chmodSync(dir, 0o755);
  return dir;
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
