/**
 * Pause and resume at scale: `--users` user workflows (default 2 000) each hold pending events for a
 * slow destination (it answers 200 after `--delay-ms`), so lanes are delivering while others wait.
 * Then, through the same SupervisorClient the `ferry` CLI uses:
 * - pause: how long after it the last delivery attempt reached the destination (the bound is 5 s);
 * - resume: how long until the first delivery arrives (bound 5 s), until every held event has
 *   arrived, and the drain rate beside the delivery rate of the 10 s before the pause; each user's
 *   order is checked.
 * The circuit breaker is switched off for the destination, so only the operator's commands act.
 *
 *   npm run build && node dist/bench/pause.js [--users 2000] [--events 3] [--delay-ms 500] [--keep]
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { createPool } from '../db/pool';
import { SupervisorClient } from '../ops/supervisorClient';
import { startNode } from '../processes/children';
import { freePort } from '../processes/ports';
import { startStack } from '../processes/stack';
import { waitUntil } from '../processes/wait';
import { benchDir, ROOT, say } from './support/stack';

const WRITE_KEY = 'pause-bench-key';
const DESTINATION = 'held';

interface Arrival {
  readonly at: number;
  readonly status: number;
  readonly user?: string;
  readonly n?: number;
  readonly messageId?: string;
}

/** A webhook that records each request as it arrives and answers 200 after `delayMs`. */
function startSlowSink(delayMs: number): Promise<{ url: string; arrivals: Arrival[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { userId?: string; messageId?: string; properties?: { n?: number } };
        arrivals.push({ at: Date.now(), status: 200, user: body.userId, n: body.properties?.n, messageId: body.messageId });
      } catch {
        arrivals.push({ at: Date.now(), status: 200 });
      }
      setTimeout(() => res.writeHead(200).end('ok'), delayMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}/in`,
        arrivals,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { users: { type: 'string', default: '2000' }, events: { type: 'string', default: '3' }, 'delay-ms': { type: 'string', default: '500' }, keep: { type: 'boolean', default: false } },
  });
  const users = Number(values.users);
  const perUser = Number(values.events);
  const sink = await startSlowSink(Number(values['delay-ms']));
  const dir = benchDir();
  const workspaceFile = path.join(dir, 'workspace.json');
  fs.writeFileSync(
    workspaceFile,
    JSON.stringify({
      sources: [
        {
          id: 'pause',
          writeKey: WRITE_KEY,
          enabled: true,
          destinations: [
            {
              id: DESTINATION,
              enabled: true,
              destinationDefinition: { name: 'WEBHOOK' },
              config: { webhookUrl: sink.url },
              // Never paused by the breaker: only the operator acts here.
              breaker: { minAttempts: 1_000_000_000 },
            },
          ],
        },
      ],
    }),
  );
  say(`starting the stack in ${dir}; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const stack = await startStack(dir);
  const port = await freePort();
  const env = { TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, FERRY_WORKSPACE_CONFIG: workspaceFile, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  const worker = await startNode('worker', ['--max-old-space-size=512', path.join(ROOT, 'dist', 'workers', 'worker.js')], { env, readyText: 'worker running', logFile: path.join(dir, 'worker.log') });
  const gateway = await startNode('gateway', [path.join(ROOT, 'dist', 'api', 'server.js')], { env, readyText: 'gateway listening', logFile: path.join(dir, 'gateway.log') });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  // As `ferry` runs with DATABASE_URL set: commands take effect through the control tables at once.
  const pool = createPool(stack.databaseUrl, 2);
  const ops = new SupervisorClient({ client: new Client({ connection }), taskQueue: 'ferry-pipeline', destinationIds: [DESTINATION], pool });
  const results: Record<string, unknown> = { users, eventsPerUser: perUser, destinationDelayMs: Number(values['delay-ms']) };
  try {
    const run = Date.now().toString(36);
    const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    say(`posting ${users * perUser} events for ${users} users`);
    for (let n = 0; n < perUser; n++) {
      for (let i = 0; i < users; i += 100) {
        const batch = Array.from({ length: Math.min(100, users - i) }, (_, j) => ({ type: 'track', userId: `${run}-${i + j}`, event: 'Held', messageId: `${run}-${i + j}-${n}`, properties: { n } }));
        const res = await fetch(`http://127.0.0.1:${port}/v1/batch`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
        if (res.status !== 200) throw new Error(`the gateway answered ${res.status}`);
      }
    }
    const total = users * perUser;
    const delivered = () => new Set(sink.arrivals.map((a) => a.messageId)).size;
    say('waiting until a tenth of the events has arrived');
    await waitUntil(() => delivered() >= total / 10, { timeoutMs: 600_000, intervalMs: 200, what: 'a tenth of the events delivered' });

    // The pace before the pause, the yardstick for the drain after the resume.
    await new Promise((r) => setTimeout(r, 10_000));
    const paceFrom = Date.now() - 10_000;
    const paceBeforePause = Math.round(sink.arrivals.filter((a) => a.at >= paceFrom).length / 10);
    const pausedAt = Date.now();
    await ops.pause([DESTINATION], 'pause benchmark');
    const pauseAnsweredMs = Date.now() - pausedAt;
    say(`paused (the command took ${pauseAnsweredMs} ms); watching for late attempts for 15 s`);
    await new Promise((r) => setTimeout(r, 15_000));
    const lastAttempt = Math.max(...sink.arrivals.map((a) => a.at));
    const held = total - delivered();
    const parked = await ops.stuck(DESTINATION, { limit: users });
    results.pause = { eventsPerSecondBeforePause: paceBeforePause, commandMs: pauseAnsweredMs, lastAttemptAfterPauseMs: Math.max(0, lastAttempt - pausedAt), boundMs: 5_000, heldEvents: held, usersListedStuck: parked.length };
    say(`pause: ${JSON.stringify(results.pause)}`);

    const before = sink.arrivals.length;
    const resumedAt = Date.now();
    await ops.resume([DESTINATION]);
    const resumeAnsweredMs = Date.now() - resumedAt;
    await waitUntil(() => sink.arrivals.length > before, { timeoutMs: 60_000, intervalMs: 20, what: 'the first delivery after the resume' });
    const firstMs = sink.arrivals[before]!.at - resumedAt;
    await waitUntil(() => delivered() >= total, { timeoutMs: 1_800_000, intervalMs: 500, what: 'every held event delivered' });
    const drainedMs = Date.now() - resumedAt;
    // Each user's deliveries in order.
    const lastN = new Map<string, number>();
    let orderViolations = 0;
    for (const a of sink.arrivals) {
      if (a.status !== 200 || a.user === undefined || a.n === undefined) continue;
      if ((lastN.get(a.user) ?? -1) > a.n) orderViolations += 1;
      lastN.set(a.user, Math.max(lastN.get(a.user) ?? -1, a.n));
    }
    results.resume = {
      commandMs: resumeAnsweredMs,
      firstDeliveryAfterResumeMs: firstMs,
      boundMs: 5_000,
      drainedAfterMs: drainedMs,
      heldEventsPerSecond: Math.round((held / drainedMs) * 1000),
      orderViolations,
    };
    say(`resume: ${JSON.stringify(results.resume)}`);
  } finally {
    await pool.end();
    await connection.close();
    await gateway.stop();
    await worker.stop();
    await stack.process.stop(60_000);
    await sink.close();
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
