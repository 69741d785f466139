/**
 * Replay while live traffic flows. The stack runs as `npm start` runs it, with two webhook
 * destinations, `live` and `archive`. First `--events` events over `--users` users are posted and
 * delivered to both. Then live single events are posted at `--live-rate` per second for
 * `--baseline-s` seconds (their latency with nothing else running), and again while a replay of the
 * whole range to `archive` runs at `--rate` events/s (through the ReplayClient the `ferry` CLI uses).
 * Reported: the replay's duration and rate, each user's order at `archive`, and live latency (from
 * the gateway's 200 to arrival) without and during the replay.
 *
 *   npm run build && node dist/bench/replay.js [--users 200] [--events 4000] [--rate 500] [--live-rate 20] [--baseline-s 10] [--keep]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { createPool } from '../db/pool';
import { ReplayClient } from '../ops/replayClient';
import { waitUntil } from '../processes/wait';
import { benchDir, percentile, say, startFerry, startSink } from './support/stack';

const SOURCE = 'replay-bench';
const WRITE_KEY = 'replay-bench-key';

interface LiveSample {
  readonly ackAt: number;
  arrivedAt?: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '200' },
      events: { type: 'string', default: '4000' },
      rate: { type: 'string', default: '500' },
      'live-rate': { type: 'string', default: '20' },
      'baseline-s': { type: 'string', default: '10' },
      keep: { type: 'boolean', default: false },
    },
  });
  const [users, events, rate, liveRate, baselineS] = [values.users, values.events, values.rate, values['live-rate'], values['baseline-s']].map(Number) as [number, number, number, number, number];
  const [live, archive] = [await startSink(), await startSink()];
  const dir = benchDir();
  const webhook = (id: string, url: string) => ({ id, enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: url }, breaker: { minAttempts: 1_000_000_000 } });
  const workspace = { sources: [{ id: SOURCE, writeKey: WRITE_KEY, enabled: true, destinations: [webhook('live', live.url), webhook('archive', archive.url)] }] };

  const liveArrivals = new Map<string, number>();
  live.onBody((body, at) => {
    const id = String(body.messageId);
    if (!liveArrivals.has(id)) liveArrivals.set(id, at);
  });
  const archived: Array<{ user: string; n: number; messageId: string }> = [];
  archive.onBody((body) => archived.push({ user: String(body.userId), n: Number((body.properties as { n?: number } | undefined)?.n), messageId: String(body.messageId) }));

  const ferry = await startFerry(dir, workspace);
  const { stack, gatewayUrl } = ferry;
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const pool = createPool(stack.databaseUrl, 2);
  const replays = new ReplayClient({ client: new Client({ connection }), taskQueue: 'ferry-pipeline', sources: new Map([[SOURCE, ['live', 'archive']]]), pool });
  const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
  const post = async (pathname: string, body: unknown) => {
    const res = await fetch(`${gatewayUrl}${pathname}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`the gateway answered ${res.status}`);
  };
  const results: Record<string, unknown> = { users, events, replayRate: rate, liveRate };
  try {
    const run = Date.now().toString(36);
    const from = new Date(Date.now() - 1_000);
    say(`posting ${events} events for ${users} users`);
    const perUser = Math.ceil(events / users);
    for (let n = 0; n < perUser; n++) {
      for (let i = 0; i < users; i += 100) {
        const batch = Array.from({ length: Math.min(100, users - i) }, (_, j) => ({ type: 'track', userId: `${run}-${i + j}`, event: 'Step', messageId: `${run}-${i + j}-${n}`, properties: { n } }));
        await post('/v1/batch', { batch });
      }
    }
    const total = perUser * users;
    await waitUntil(() => liveArrivals.size >= total && new Set(archived.map((a) => a.messageId)).size >= total, { timeoutMs: 900_000, intervalMs: 500, what: 'the history delivered' });
    // The range ends before any live traffic of the measurement is logged.
    await new Promise((r) => setTimeout(r, 1_000));
    const to = new Date();
    const firstArchived = archived.length;

    /** Posts one live event every 1/liveRate s until `until()`; returns each one's latency samples. */
    const liveTraffic = async (label: string, until: () => boolean): Promise<LiveSample[]> => {
      const samples = new Map<string, LiveSample>();
      let i = 0;
      while (!until()) {
        const messageId = `${run}-live-${label}-${i}`;
        const started = Date.now();
        await post('/v1/track', { userId: `${run}-live-${i % 20}`, event: 'Live', messageId, properties: { n: i } });
        samples.set(messageId, { ackAt: Date.now() });
        i += 1;
        await new Promise((r) => setTimeout(r, Math.max(0, 1_000 / liveRate - (Date.now() - started))));
      }
      await waitUntil(() => [...samples.keys()].every((id) => liveArrivals.has(id)), { timeoutMs: 300_000, intervalMs: 200, what: `the ${label} live events` });
      return [...samples].map(([id, s]) => ({ ...s, arrivedAt: liveArrivals.get(id) }));
    };
    const latency = (samples: LiveSample[]) => {
      const sorted = samples.map((s) => (s.arrivedAt ?? NaN) - s.ackAt).sort((a, b) => a - b);
      return { events: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) };
    };

    say(`live traffic alone for ${baselineS} s`);
    const baselineEnd = Date.now() + baselineS * 1_000;
    const baseline = await liveTraffic('baseline', () => Date.now() >= baselineEnd);

    say(`replaying ${total} events to archive at ${rate}/s while live traffic flows`);
    const startedAt = Date.now();
    const job = await replays.replay({ sourceId: SOURCE, destinationId: 'archive', from, to, pacing: { eventsPerSecond: rate } });
    let finished = false;
    const during = liveTraffic('during', () => finished);
    const final = await waitUntil(
      async () => {
        const status = await replays.job(job.workflowId);
        return status.state === 'running' ? undefined : status;
      },
      { timeoutMs: 1_800_000, intervalMs: 500, what: 'the replay' },
    );
    const replaySeconds = (Date.now() - startedAt) / 1_000;
    finished = true;
    const duringSamples = await during;

    // What arrived at archive after the history, less the live events (they go to both destinations).
    const replayed = archived.slice(firstArchived).filter((a) => !a.messageId.startsWith(`${run}-live-`));
    const lastN = new Map<string, number>();
    let orderViolations = 0;
    for (const a of replayed) {
      if ((lastN.get(a.user) ?? -1) > a.n) orderViolations += 1;
      lastN.set(a.user, Math.max(lastN.get(a.user) ?? -1, a.n));
    }
    const replayedIds = new Set(replayed.map((a) => a.messageId));
    results.replay = {
      state: final.state,
      events: total,
      arrived: replayedIds.size,
      duplicates: replayed.length - replayedIds.size,
      seconds: Math.round(replaySeconds * 10) / 10,
      eventsPerSecond: Math.round(total / replaySeconds),
      orderViolations,
      progress: final.progress,
    };
    results.liveLatency = { withoutReplay: latency(baseline), duringReplay: latency(duringSamples) };
    say(`replay: ${JSON.stringify(results.replay)}`);
    say(`live latency: ${JSON.stringify(results.liveLatency)}`);
  } finally {
    await pool.end();
    await connection.close();
    await ferry.stop();
    await Promise.all([live.close(), archive.close()]);
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
