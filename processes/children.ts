/**
 * Running Ferry's components as child processes, the way they are deployed: `npm start`, the
 * benchmarks and the tests all start, wait for and stop them through these helpers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { waitUntil } from './wait';

export interface NodeChild {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (the last 1 MB). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

export interface StartNodeOptions {
  /** Variables added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Resolve once the output contains this text; at once when unset. */
  readonly readyText?: string;
  /** Also append the output to this file. */
  readonly logFile?: string;
  /** @default 60000 */
  readonly timeoutMs?: number;
}

const OUTPUT_KEPT = 1_000_000;

/** Starts `node ...args` and resolves once it reports ready; a process that exits first rejects with its output. */
export async function startNode(name: string, args: readonly string[], options: StartNodeOptions = {}): Promise<NodeChild> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  let output = '';
  const onData = (chunk: Buffer) => {
    log?.write(chunk);
    output += chunk.toString();
    if (output.length > OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('exit', () => log?.end());
  const handle: NodeChild = {
    name,
    child,
    output: () => output,
    stop: (graceMs = 30_000) => stopChild(child, graceMs),
    kill: () => killChild(child),
  };
  const { readyText } = options;
  if (readyText === undefined) return handle;
  let state: 'ready' | 'exited';
  try {
    state = await waitUntil(() => (exited(child) ? 'exited' : output.includes(readyText) && 'ready'), {
      timeoutMs: options.timeoutMs ?? 60_000,
      intervalMs: 50,
      what: `${name} to print "${readyText}"`,
    });
  } catch (err) {
    await killChild(child);
    throw err;
  }
  if (state === 'exited') throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output.slice(-3_000)}`);
  return handle;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL if the process lingers past `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    child.once('exit', done);
    // kill() is false when the process is already gone but its exit has not been reported yet.
    if (!child.kill('SIGTERM')) done();
  });
}

/** SIGKILL, resolving once the exit is reported. */
export function killChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (exited(child)) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
