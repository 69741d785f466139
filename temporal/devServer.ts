/**
 * Runs a Temporal dev server (`temporal server start-dev`) persisted to SQLite, with Ferry's search
 * attributes registered. Used by `npm start`, `npm run dev-server` and the test suite alike.
 */
import { FerryError } from '../errors/ferryError';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { stopChild } from '../processes/children';
import { type WaitOptions, waitUntil } from '../processes/wait';
import { ALL_SEARCH_ATTRIBUTES, DEV_SERVER_SEARCH_ATTRIBUTE_TYPES } from './names';

export interface DevServerOptions {
  /** The CLI binary; `undefined` lets @temporalio/testing download one (needs the internet). */
  readonly binary: string | undefined;
  /** SQLite file; its directory is created. */
  readonly dbFile: string;
  /** @default 7233 */
  readonly port?: number;
  /** Web UI port. @default port + 1000 */
  readonly uiPort?: number;
  /** @default default */
  readonly namespace?: string;
  /** SQLite's `synchronous` pragma: FULL syncs every commit. @default FULL */
  readonly sqliteSynchronous?: 'FULL' | 'NORMAL' | 'OFF';
  /** Where the server's own log goes; discarded when unset. */
  readonly logFile?: string;
  /** @default 60000 */
  readonly readyTimeoutMs?: number;
  /**
   * More dynamic config, e.g. a low `limit.historyCount.suggestContinueAsNew` so that a test sees
   * the server's continue-as-new suggestion within seconds. Ignored by a downloaded server.
   */
  readonly dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
}

/** A Temporal server Ferry started, dev server or real cluster alike. */
export interface TemporalProcess {
  readonly address: string;
  readonly pid?: number;
  /** Settles when the server process exits, for whatever reason. */
  readonly exited: Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export interface DevServer extends TemporalProcess {
  readonly uiUrl: string;
}

export class DevServerError extends FerryError {
  constructor(
    message: string,
    readonly logFile?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? port + 1000;
  const namespace = options.namespace ?? 'default';
  fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
  if (!options.binary) return startDownloaded(options, port, uiPort, namespace);

  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--db-filename', options.dbFile,
    '--namespace', namespace,
    '--log-level', 'warn',
    // WAL keeps SQLite durable while letting readers and the writer overlap.
    '--sqlite-pragma', 'journal_mode=WAL',
    '--sqlite-pragma', `synchronous=${options.sqliteSynchronous ?? 'FULL'}`,
    // The server hands an activity scheduled by a workflow task straight back to the worker that
    // completed it, saving a poll round trip per activity. Off by default in server 1.29.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    ...Object.entries(options.dynamicConfig ?? {}).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
    ...ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${DEV_SERVER_SEARCH_ATTRIBUTE_TYPES[key.type as keyof typeof DEV_SERVER_SEARCH_ATTRIBUTE_TYPES]}`]),
  ];
  const log = options.logFile ? fs.openSync(options.logFile, 'a') : 'ignore';
  // Its own process group: a terminal's Ctrl-C reaches only `npm start`, which stops components in order.
  const child = spawn(options.binary, args, { stdio: ['ignore', log, log], detached: true });
  if (typeof log === 'number') fs.closeSync(log);
  const address = `127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntilReady(address, namespace, child, options.readyTimeoutMs ?? 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    const log = options.logFile ? `\n${logTail(options.logFile)}` : '';
    throw new DevServerError(`Temporal dev server did not start on ${address}: ${(err as Error).message}${log}`, options.logFile, { cause: err });
  }
  return { address, uiUrl: `http://127.0.0.1:${uiPort}`, pid: child.pid, exited, stop: () => stopChild(child) };
}

async function startDownloaded(options: DevServerOptions, port: number, uiPort: number, namespace: string): Promise<DevServer> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      port,
      ui: true,
      uiPort,
      dbFilename: options.dbFile,
      namespace,
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
    },
  });
  // The SDK owns this server's process: it is not watched, and counts as running until stopped.
  let stopped: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => (stopped = resolve));
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    exited,
    stop: async () => {
      await env.teardown();
      stopped();
    },
  };
}

async function waitUntilReady(address: string, namespace: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  await waitUntilServing(address, child, (connection) => connection.workflowService.describeNamespace({ namespace }), {
    timeoutMs,
    intervalMs: 250,
    what: `the dev server on ${address}`,
  });
}

/**
 * Connects to a Temporal server Ferry started and runs `check` on it until it passes; fails at once if
 * the server's process exits first, rather than waiting out the timeout. The dev server and the
 * cluster's server both start this way, each with its own idea of ready.
 */
export async function waitUntilServing(address: string, child: ChildProcess, check: (connection: Connection) => Promise<unknown>, options: WaitOptions): Promise<void> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `the server exited (${code ?? signal})`;
  });
  const state = await waitUntil(async () => {
    if (exited) return 'exited';
    const connection = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await check(connection);
      return 'ready';
    } finally {
      await connection.close();
    }
  }, options);
  if (state === 'exited') throw new Error(exited);
}

/** The end of the server's log, for an error that says why it did not start (e.g. "address already in use"). */
function logTail(file: string, bytes = 2_000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}
