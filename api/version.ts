/** What GET /version reports: the package, and the commit it was built from when that is known. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config/paths';

export interface VersionInfo {
  readonly name: string;
  readonly version: string;
  /** A git commit hash, or 'unknown'. */
  readonly commit: string;
}

export interface VersionOptions {
  /** The commit to report (FERRY_COMMIT); wins over git. @default `git rev-parse HEAD` of the checkout, else 'unknown' */
  readonly commit?: string;
}

let gitCommit: string | null | undefined;

export function resolveVersion({ commit }: VersionOptions = {}): VersionInfo {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { name?: string; version?: string };
  return {
    name: pkg.name ?? 'ferry',
    version: pkg.version ?? '0.0.0',
    commit: commit ?? checkoutCommit() ?? 'unknown',
  };
}

/**
 * Asked once per process: images built without .git (or without git) set FERRY_COMMIT instead.
 * The build is plain `tsc`, so there is no build step that could stamp the commit into dist/.
 */
function checkoutCommit(): string | undefined {
  if (gitCommit === undefined) {
    try {
      const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
      const hash = out.toString('utf8').trim();
      gitCommit = /^[0-9a-f]{7,64}$/.test(hash) ? hash : null;
    } catch {
      gitCommit = null;
    }
  }
  return gitCommit ?? undefined;
}
