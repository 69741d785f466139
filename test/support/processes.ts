import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../config/paths';
import { type NodeChild, startNode } from '../../processes/children';

/** Writes a workspace document to a temp file, as an operator would for FERRY_WORKSPACE_CONFIG. */
export function writeWorkspaceFile(document: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-ws-'));
  const file = path.join(dir, 'workspace.json');
  fs.writeFileSync(file, JSON.stringify(document, null, 2));
  return file;
}

/**
 * Starts a built entry point (e.g. `workers/worker.js`) as its own process, the way it is deployed,
 * and resolves once it logs `readyText`.
 */
export function startComponent(entry: string, env: NodeJS.ProcessEnv, readyText: string, timeoutMs = 60_000): Promise<NodeChild> {
  return startNode(entry, [path.join(PROJECT_ROOT, 'dist', entry)], { env, readyText, timeoutMs });
}
