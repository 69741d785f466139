import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** Writes a workspace document to a temp file, as an operator would for FERRY_WORKSPACE_CONFIG. */
export function writeWorkspaceFile(document: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-ws-'));
  const file = path.join(dir, 'workspace.json');
  fs.writeFileSync(file, JSON.stringify(document, null, 2));
  return file;
}

export interface ChildComponent {
  readonly child: ChildProcess;
  /** Everything the process wrote so far. */
  output(): string;
}

/**
 * Starts a built entry point (e.g. `workers/worker.js`) as its own process, the way it is deployed,
 * and resolves once it logs `readyText`.
 */
export async function startComponent(entry: string, env: NodeJS.ProcessEnv, readyText: string, timeoutMs = 60_000): Promise<ChildComponent> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', entry)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = Date.now() + timeoutMs;
  while (!output.includes(readyText)) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => output };
}

export function killHard(component: ChildComponent): Promise<void> {
  return new Promise((resolve) => {
    if (component.child.exitCode !== null || component.child.signalCode !== null) return resolve();
    component.child.once('exit', () => resolve());
    component.child.kill('SIGKILL');
  });
}
