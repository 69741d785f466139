/**
 * Starts the suite's shared Temporal dev server and PostgreSQL through the same code path as
 * `npm start` (dist/scripts/start.js --only temporal,database), and pre-bundles the workflow code.
 * FERRY_TEST_TEMPORAL_ADDRESS and FERRY_TEST_DATABASE_URL point the suite at running ones instead.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { freePort } from './ports';

const ROOT = path.resolve(__dirname, '..', '..');

export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-test-'));
  // The embedded PostgreSQL runs as the postgres user when the suite runs as root.
  fs.chmodSync(dir, 0o755);
  process.env.FERRY_TEST_DIR = dir;

  const bundle = await bundleWorkflowCode({ workflowsPath: path.join(ROOT, 'workflows', 'index.ts'), logger: quietLogger });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, bundle.code);
  process.env.FERRY_TEST_WORKFLOW_BUNDLE = bundlePath;

  if (process.env.FERRY_TEST_TEMPORAL_ADDRESS && process.env.FERRY_TEST_DATABASE_URL) return;

  const readyFile = path.join(dir, 'ready.json');
  const env = {
    ...process.env,
    FERRY_DATA_DIR: path.join(dir, 'stack'),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    FERRY_PG_PORT: String(await freePort()),
  };
  const log = fs.openSync(path.join(dir, 'stack.log'), 'a');
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'start.js'), '--only', 'temporal,database', '--ready-file', readyFile], {
    env,
    stdio: ['ignore', log, log],
    detached: false,
  });
  fs.writeFileSync(path.join(dir, 'stack.pid'), String(child.pid));
  // Building the Temporal CLI on a fresh machine takes minutes; afterwards this is seconds.
  const deadline = Date.now() + 15 * 60_000;
  while (!fs.existsSync(readyFile)) {
    if (child.exitCode !== null) throw new Error(`test stack exited (${child.exitCode}); see ${path.join(dir, 'stack.log')}:\n${fs.readFileSync(path.join(dir, 'stack.log'), 'utf8').slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`test stack not ready; see ${path.join(dir, 'stack.log')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const ready = JSON.parse(fs.readFileSync(readyFile, 'utf8')) as { temporalAddress: string; databaseUrl: string };
  process.env.FERRY_TEST_TEMPORAL_ADDRESS = ready.temporalAddress;
  process.env.FERRY_TEST_DATABASE_URL = ready.databaseUrl;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};
