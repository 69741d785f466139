/**
 * Pause and resume at scale: `--users` user workflows (default 2 000) each hold pending events for a
 * slow destination (it answers 200 after `--delay-ms`), so lanes are delivering while others wait.
 * Then, through the same SupervisorClient the `ferry` CLI uses:
 * - pause: how long after it the last delivery attempt reached the destination (the bound is 5 s);
 * - resume: how long until the first delivery arrives (bound 5 s), until every held event has
 *   arrived, and the drain rate beside the delivery rate before the pause (from a tenth to a fifth delivered); each user's
 *   order is checked.
 * The circuit breaker is switched off for the destination, so only the operator's commands act.
 *
 *   npm run build && node dist/bench/pause.js [--users 2000] [--events 3] [--delay-ms 500] [--keep]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { createPool } from '../db/pool';
import { SupervisorClient } from '../ops/supervisorClient';
import { waitUntil } from '../processes/wait';
import { benchDir, say, startFerry, startSink } from './support/stack';

const WRITE_KEY = 'pause-bench-key';
const DESTINATION = 'held';

interface Arrival {
  readonly at: number;
  readonly user?: string;
  readonly n?: number;
  readonly messageId?: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { users: { type: 'string', default: '2000' }, events: { type: 'string', default: '3' }, 'delay-ms': { type: 'string', default: '500' }, keep: { type: 'boolean', default: false } },
  });
  const users = Number(values.users);
  const perUser = Number(values.events);
  const sink = await startSink({ delayMs: Number(values['delay-ms']) });
  // Recorded as each request arrives, before the slow answer.
  const arrivals: Arrival[] = [];
  sink.onBody((body, at) => {
    const n = (body.properties as { n?: number } | undefined)?.n;
    arrivals.push({ at, user: typeof body.userId === 'string' ? body.userId : undefined, n, messageId: typeof body.messageId === 'string' ? body.messageId : undefined });
  });
  const dir = benchDir();
  const workspace = {
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
  };
  const ferry = await startFerry(dir, workspace);
  const { stack, gatewayUrl } = ferry;
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
        const res = await fetch(`${gatewayUrl}/v1/batch`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
        if (res.status !== 200) throw new Error(`the gateway answered ${res.status}`);
      }
    }
    const total = users * perUser;
    const delivered = () => new Set(arrivals.map((a) => a.messageId)).size;
    say('waiting until a tenth of the events has arrived');
    await waitUntil(() => delivered() >= total / 10, { timeoutMs: 600_000, intervalMs: 200, what: 'a tenth of the events delivered' });
    // The pace from a tenth to a fifth delivered, the yardstick for the drain after the resume.
    const [tenthAt, tenthCount] = [Date.now(), arrivals.length];
    await waitUntil(() => delivered() >= total / 5, { timeoutMs: 600_000, intervalMs: 200, what: 'a fifth of the events delivered' });
    const paceBeforePause = Math.round(((arrivals.length - tenthCount) * 1_000) / Math.max(Date.now() - tenthAt, 1));
    const pausedAt = Date.now();
    await ops.pause([DESTINATION], 'pause benchmark');
    const pauseAnsweredMs = Date.now() - pausedAt;
    say(`paused (the command took ${pauseAnsweredMs} ms); watching for late attempts for 15 s`);
    await new Promise((r) => setTimeout(r, 15_000));
    const lastAttempt = Math.max(...arrivals.map((a) => a.at));
    const held = total - delivered();
    if (held === 0) throw new Error('every event arrived before the pause took effect: raise --users, --events or --delay-ms');
    const parked = await ops.stuck(DESTINATION, { limit: users });
    results.pause = { eventsPerSecondBeforePause: paceBeforePause, commandMs: pauseAnsweredMs, lastAttemptAfterPauseMs: Math.max(0, lastAttempt - pausedAt), boundMs: 5_000, heldEvents: held, usersListedStuck: parked.length };
    say(`pause: ${JSON.stringify(results.pause)}`);

    const before = arrivals.length;
    const resumedAt = Date.now();
    await ops.resume([DESTINATION]);
    const resumeAnsweredMs = Date.now() - resumedAt;
    await waitUntil(() => arrivals.length > before, { timeoutMs: 60_000, intervalMs: 20, what: 'the first delivery after the resume' });
    const firstMs = arrivals[before]!.at - resumedAt;
    await waitUntil(() => delivered() >= total, { timeoutMs: 1_800_000, intervalMs: 500, what: 'every held event delivered' });
    const drainedMs = Date.now() - resumedAt;
    // Each user's deliveries in order.
    const lastN = new Map<string, number>();
    let orderViolations = 0;
    for (const a of arrivals) {
      if (a.user === undefined || a.n === undefined) continue;
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
    await ferry.stop();
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
