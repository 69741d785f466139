/**
 * The real Temporal server (not the dev server) and its SQL schema tool, built with `go install` from
 * the Go module proxy once per machine into the same cache as the CLI, together with the PostgreSQL
 * schema files they need. The version is the one the pinned CLI embeds, so `npm start` and
 * `npm run cluster` run the same server code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FerryError } from '../errors/ferryError';
import { ferryCacheDir, findGo, isExecutable } from './binary';

/** The server version CLI v1.5.1 embeds. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const MODULE = 'go.temporal.io/server';
/** Inside the server module: the PostgreSQL (v12+) schemas the SQL tool applies. */
const SCHEMA_SUBDIR = path.join('schema', 'postgresql', 'v12');

export interface TemporalServerBinaries {
  /** `temporal-server`-style binary: `server start --config DIR --env NAME`. */
  readonly server: string;
  /** The schema tool (`sql`): `create-database`, `setup-schema`, `update-schema`. */
  readonly sqlTool: string;
  /** Holds `temporal/versioned` and `visibility/versioned`. */
  readonly schemaDir: string;
}

export class TemporalServerBuildError extends FerryError {
  constructor(
    message: string,
    readonly cacheDir: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ResolveServerOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Called before a slow step, such as building the server with Go. */
  readonly onProgress?: (message: string) => void;
}

export function temporalServerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(ferryCacheDir(env), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
}

/**
 * The cached build, or a fresh one. Unlike the CLI there is nothing to download instead: without Go
 * this fails with a message that says how to get it.
 */
export function resolveTemporalServer({ env = process.env, onProgress = () => undefined }: ResolveServerOptions = {}): TemporalServerBinaries {
  const cacheDir = temporalServerCacheDir(env);
  const cached: TemporalServerBinaries = { server: path.join(cacheDir, 'server'), sqlTool: path.join(cacheDir, 'sql'), schemaDir: path.join(cacheDir, SCHEMA_SUBDIR) };
  if (isExecutable(cached.server) && isExecutable(cached.sqlTool) && fs.existsSync(path.join(cached.schemaDir, 'temporal', 'versioned'))) return cached;

  const go = findGo(env);
  if (!go) {
    throw new TemporalServerBuildError(
      `the Temporal server ${TEMPORAL_SERVER_VERSION} is built with Go, and no \`go\` was found on PATH or in /usr/local/go/bin. ` +
        `Install Go 1.23 or later (https://go.dev/dl/), or build it yourself into ${cacheDir}: ` +
        `GOBIN=${cacheDir} go install ${MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION} ${MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
      cacheDir,
    );
  }
  onProgress(`building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool with ${go} into ${cacheDir} (once per machine; takes a few minutes)`);
  fs.mkdirSync(cacheDir, { recursive: true });
  // Build into a scratch dir and rename, so an interrupted build never leaves a half-written binary behind.
  const scratch = fs.mkdtempSync(path.join(cacheDir, 'build-'));
  try {
    const result = spawnSync(go, ['install', `${MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, `${MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`], {
      env: { ...env, GOBIN: scratch },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (result.status !== 0) {
      throw new TemporalServerBuildError(`go install of the Temporal server ${TEMPORAL_SERVER_VERSION} failed (exit ${result.status ?? result.signal}); its output is above`, cacheDir, {
        cause: result.error,
      });
    }
    // The schema files ship in the module source, which `go clean -modcache` may remove: keep a copy.
    const moduleDir = path.join(execFileSync(go, ['env', 'GOMODCACHE'], { env, encoding: 'utf8' }).trim(), `${MODULE}@${TEMPORAL_SERVER_VERSION}`);
    fs.rmSync(cached.schemaDir, { recursive: true, force: true });
    fs.cpSync(path.join(moduleDir, SCHEMA_SUBDIR), cached.schemaDir, { recursive: true });
    // The module cache is read-only; the copy need not be.
    chmodTree(cached.schemaDir);
    fs.renameSync(path.join(scratch, 'sql'), cached.sqlTool);
    fs.renameSync(path.join(scratch, 'server'), cached.server);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return cached;
}

function chmodTree(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) chmodTree(full);
    else fs.chmodSync(full, 0o644);
  }
}
