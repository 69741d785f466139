/**
 * Finds the `temporal` CLI that runs the dev server. Order: TEMPORAL_CLI_PATH, `temporal` on PATH,
 * a pinned build in the per-machine cache (built with `go install` on first use), and finally
 * `undefined`, which tells the caller to let @temporalio/testing download one (needs the internet).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** v1.5.1 embeds Temporal server 1.29.1; later tags carry a `replace` directive that breaks `go install`. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const GO_CANDIDATES = ['go', '/usr/local/go/bin/go'];

export interface ResolveOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Called before a slow step, such as building the CLI with Go. */
  readonly onProgress?: (message: string) => void;
}

/** The per-machine cache that Go-built binaries live in, outside any checkout. */
export function ferryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FERRY_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'ferry');
}

export function temporalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(ferryCacheDir(env), `temporal-${TEMPORAL_CLI_VERSION}`);
}

export function resolveTemporalCli({ env = process.env, onProgress = () => undefined }: ResolveOptions = {}): string | undefined {
  if (env.TEMPORAL_CLI_PATH) {
    if (!isExecutable(env.TEMPORAL_CLI_PATH)) throw new Error(`TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file`);
    return env.TEMPORAL_CLI_PATH;
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return onPath;
  const cacheDir = temporalCacheDir(env);
  const cached = path.join(cacheDir, 'temporal');
  if (isExecutable(cached)) return cached;
  const go = findGo(env);
  if (!go) return undefined;
  onProgress(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go} into ${cacheDir} (once per machine; takes a few minutes)`);
  fs.mkdirSync(cacheDir, { recursive: true });
  // Build into a scratch dir and rename, so an interrupted build never leaves a half-written binary behind.
  const scratch = fs.mkdtempSync(path.join(cacheDir, 'build-'));
  try {
    const result = spawnSync(go, ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
      env: { ...env, GOBIN: scratch },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (result.status !== 0) {
      onProgress(`go install failed (exit ${result.status ?? result.signal}); falling back to the SDK's download`);
      return undefined;
    }
    fs.renameSync(path.join(scratch, 'temporal'), cached);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return cached;
}

/** The Go toolchain: `go` on PATH, else the official tarball's /usr/local/go/bin/go. */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return GO_CANDIDATES.map((g) => (g.includes('/') ? (isExecutable(g) ? g : undefined) : findOnPath(g, env))).find(Boolean);
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The CLI's own version line, for logs. */
export function temporalCliVersion(binary: string): string {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown version';
  }
}
