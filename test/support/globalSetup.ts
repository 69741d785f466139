/**
 * Starts the suite's shared Temporal dev server and PostgreSQL through the same code path as
 * `npm start` (dist/scripts/start.js --only temporal,database, via processes/stack), and pre-bundles
 * the workflow code.
 * FERRY_TEST_TEMPORAL_ADDRESS and FERRY_TEST_DATABASE_URL point the suite at running ones instead.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack } from '../../processes/stack';
import { bundleFerryWorkflows } from '../../workers/workflowSource';

export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-test-'));
  // The embedded PostgreSQL runs as the postgres user when the suite runs as root.
  fs.chmodSync(dir, 0o755);
  process.env.FERRY_TEST_DIR = dir;

  const bundlePath = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, await bundleFerryWorkflows({ logger: quietLogger }));
  process.env.FERRY_TEST_WORKFLOW_BUNDLE = bundlePath;

  if (process.env.FERRY_TEST_TEMPORAL_ADDRESS && process.env.FERRY_TEST_DATABASE_URL) return;

  const stack = await startStack(dir);
  // globalTeardown stops it through this pid: jest runs teardown in a module scope of its own.
  fs.writeFileSync(path.join(dir, 'stack.pid'), String(stack.process.child.pid));
  process.env.FERRY_TEST_TEMPORAL_ADDRESS = stack.temporalAddress;
  process.env.FERRY_TEST_DATABASE_URL = stack.databaseUrl;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};
