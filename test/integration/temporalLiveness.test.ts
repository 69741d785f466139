/**
 * npm start restarts a Temporal dev server that is running but serves nothing, as it restarts one that
 * exited. A frozen process (SIGSTOP) stands in for the stuck SQLite driver that was seen under load:
 * both leave the process up and every request unanswered or failed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../processes/ports';
import { type Stack, startStack } from '../../processes/stack';
import { waitUntil } from '../../processes/wait';
import { probeTemporal, watchLiveness } from '../../temporal/liveness';

const address = process.env.FERRY_TEST_TEMPORAL_ADDRESS!;

describe('the liveness probe', () => {
  it('counts a serving server as healthy: the unknown workflow it asks for is "not found"', async () => {
    const connection = await Connection.connect({ address });
    try {
      expect(await probeTemporal(connection, 'default', 5_000)).toBeUndefined();
    } finally {
      await connection.close();
    }
  });

  it('never calls a serving server stuck', async () => {
    const stuck = jest.fn();
    const watch = watchLiveness({ address, namespace: 'default', stuckAfterMs: 300, intervalMs: 100, onStuck: stuck });
    await new Promise((r) => setTimeout(r, 1_500));
    await watch.stop();
    expect(stuck).not.toHaveBeenCalled();
  });

  it('calls a server stuck once every probe has failed for stuckAfterMs, and says why', async () => {
    const stuck = jest.fn();
    const startedAt = Date.now();
    // A port nothing listens on: every probe fails.
    const watch = watchLiveness({ address: `127.0.0.1:${await freePort()}`, namespace: 'default', stuckAfterMs: 1_000, intervalMs: 200, probeTimeoutMs: 500, onStuck: stuck });
    try {
      await waitUntil(() => stuck.mock.calls.length > 0, { timeoutMs: 20_000, what: 'the watch to give up' });
    } finally {
      await watch.stop();
    }
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_000);
    expect(stuck).toHaveBeenCalledTimes(1);
    expect(stuck.mock.calls[0][0]).toEqual({ failingForMs: expect.any(Number), lastError: expect.any(String) });
    expect(stuck.mock.calls[0][0].failingForMs).toBeGreaterThanOrEqual(1_000);
  });
});

describe('npm start with a dev server that stops serving', () => {
  let dir: string;
  let stack: Stack | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-liveness-'));
    stack = await startStack(dir, { only: 'temporal', env: { FERRY_TEMPORAL_STUCK_AFTER_MS: '4000' } });
  }, 15 * 60_000);

  afterAll(async () => {
    await stack?.process.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const serverPid = () => Number(fs.readFileSync(path.join(dir, 'stack', 'temporal', 'server.pid'), 'utf8'));

  it('restarts it on the same data', async () => {
    const connection = await Connection.connect({ address: stack!.temporalAddress });
    const client = new Client({ connection });
    // A workflow no worker runs: it stays open, and must be there after the restart.
    const workflowId = `liveness-${Date.now()}`;
    await client.workflow.start('noWorkerRunsThis', { workflowId, taskQueue: 'liveness-test' });
    await connection.close();

    const frozen = serverPid();
    process.kill(frozen, 'SIGSTOP');
    try {
      await waitUntil(() => serverPid() !== frozen, { timeoutMs: 90_000, what: 'a new dev server' });
    } finally {
      // Only if it is still there: a restart killed it.
      try {
        process.kill(frozen, 'SIGCONT');
      } catch {
        // Gone, as it should be.
      }
    }
    expect(() => process.kill(frozen, 0)).toThrow();
    expect(stack!.process.output()).toMatch(/the Temporal dev server is running but has served nothing for \d+ s/);

    const after = await Connection.connect({ address: stack!.temporalAddress });
    try {
      const description = await waitUntil(
        () => new Client({ connection: after }).workflow.getHandle(workflowId).describe().catch(() => undefined),
        { timeoutMs: 60_000, what: 'the restarted server to answer' },
      );
      expect(description.status.name).toBe('RUNNING');
    } finally {
      await after.close();
    }
  }, 180_000);
});
