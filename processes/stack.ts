/**
 * Starts the infrastructure part of `npm start` (dist/scripts/start.js with `--only`), on free ports
 * in a directory of the caller's, and reads back where everything is. The tests' global setup and
 * the benchmarks both run their stack this way, so they exercise the same start-up code as users.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config/paths';
import { type NodeChild, startNode } from './children';
import { withFreePorts } from './ports';

export interface StackOptions {
  /** start.js's `--only` list. @default temporal,database */
  readonly only?: string;
  /** More environment for start.js and the components it runs (PORT, FERRY_WORKSPACE_CONFIG…). */
  readonly env?: Record<string, string>;
  /**
   * A real Temporal server on the embedded PostgreSQL (start.js `--cluster`) instead of the dev server.
   * @default false
   */
  readonly cluster?: boolean;
  /** Building the Temporal CLI (or server) on a fresh machine takes minutes. @default 15 minutes */
  readonly timeoutMs?: number;
}

export interface Stack {
  readonly temporalAddress: string;
  readonly databaseUrl: string;
  readonly process: NodeChild;
  /** The data directory start.js uses. */
  readonly dataDir: string;
  /** The dev server's and the PostgreSQL postmaster's pids, for CPU and memory readings. */
  readonly pids: { readonly temporal?: number; readonly postgres?: number };
}

/** Runs dist/scripts/start.js on free ports with its data in `dir`; its log goes to `dir/stack.log`. */
export async function startStack(dir: string, { only = 'temporal,database', env: extra = {}, cluster = false, timeoutMs = 15 * 60_000 }: StackOptions = {}): Promise<Stack> {
  const readyFile = path.join(dir, 'ready.json');
  const dataDir = path.join(dir, 'stack');
  // start.js hands these ports to the dev server and PostgreSQL; a port taken meanwhile means a new start.
  const proc = await withFreePorts(3, ([temporal, ui, postgres]) =>
    startNode('stack', [path.join(PROJECT_ROOT, 'dist', 'scripts', 'start.js'), '--only', only, '--ready-file', readyFile, ...(cluster ? ['--cluster'] : [])], {
      env: { FERRY_DATA_DIR: dataDir, TEMPORAL_PORT: String(temporal), TEMPORAL_UI_PORT: String(ui), FERRY_PG_PORT: String(postgres), ...extra },
      readyText: 'Ctrl-C stops everything',
      logFile: path.join(dir, 'stack.log'),
      timeoutMs,
    }),
  );
  const ready = JSON.parse(fs.readFileSync(readyFile, 'utf8')) as { temporalAddress: string; databaseUrl: string };
  const pidFrom = (file: string) => {
    try {
      const pid = Number(fs.readFileSync(path.join(dataDir, file), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    temporalAddress: ready.temporalAddress,
    databaseUrl: ready.databaseUrl,
    process: proc,
    dataDir,
    pids: { temporal: pidFrom('temporal/server.pid'), postgres: pidFrom('postgres/postmaster.pid') },
  };
}
