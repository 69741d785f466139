/**
 * The cluster's ordering load, measured: `--users` users each send `--events` numbered events one
 * after the other (the next after the previous one's 200) through the balancer in front of two
 * gateways, with two workers delivering to a local webhook. The same load runs on two Temporals in
 * one run, each on a fresh stack of separate processes:
 *
 * - `dev`: the dev server `npm start` uses (SQLite, one history shard);
 * - `cluster`: the real server `npm run cluster` uses (PostgreSQL, 4 history shards).
 *
 * Reported per Temporal: ingest requests/s (first send to last 200), delivered events/s (first send
 * to last arrival), p50/p99 of the time to the 200 and of the time to arrival, ordering violations,
 * missing events and redeliveries. `--kill` also kills a worker and a gateway with SIGKILL mid-run,
 * as the jest test does.
 *
 *   npm run bench:cluster -- [--users 200] [--events 20] [--only dev,cluster] [--kill] [--keep]
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { FerryCluster } from '../processes/ferryCluster';
import { checkOrdering, startOrderedLoad } from '../processes/orderedLoad';
import { waitUntil } from '../processes/wait';
import { benchDir, percentile, say, startSink } from './support/stack';

const WRITE_KEY = 'bench-cluster-key';
const TEMPORALS = ['dev', 'cluster'] as const;

interface Result {
  readonly temporal: string;
  readonly acknowledged: number;
  readonly ingestPerSecond: number;
  readonly deliveredPerSecond: number;
  readonly ackP50: number;
  readonly ackP99: number;
  readonly arrivalP50: number;
  readonly arrivalP99: number;
  readonly violations: number;
  readonly missing: number;
  readonly redelivered: number;
  readonly retriedRequests: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '200' },
      events: { type: 'string', default: '20' },
      only: { type: 'string' },
      kill: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const users = Number(values.users);
  const events = Number(values.events);
  const temporals = TEMPORALS.filter((t) => !values.only || values.only.split(',').includes(t));
  const results: Result[] = [];
  for (const temporal of temporals) results.push(await runOne(temporal, users, events, values.kill, values.keep));

  process.stdout.write(
    `\nOrdering load: ${users} users × ${events} events, 2 gateways behind the balancer, 2 workers${values.kill ? ', a worker and a gateway SIGKILLed mid-run' : ''}; ` +
      `${os.cpus().length} CPUs, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  process.stdout.write('| Temporal | ingest req/s | delivered events/s | 200 p50 / p99 (ms) | arrival p50 / p99 (ms) | ordering violations | missing | redelivered | retried requests |\n');
  process.stdout.write('|---|---|---|---|---|---|---|---|---|\n');
  for (const r of results) {
    process.stdout.write(
      `| ${r.temporal} | ${r.ingestPerSecond.toFixed(0)} | ${r.deliveredPerSecond.toFixed(0)} | ${r.ackP50.toFixed(0)} / ${r.ackP99.toFixed(0)} | ` +
        `${r.arrivalP50.toFixed(0)} / ${r.arrivalP99.toFixed(0)} | ${r.violations} | ${r.missing} | ${r.redelivered} | ${r.retriedRequests} |\n`,
    );
  }
  if (results.some((r) => r.violations > 0 || r.missing > 0)) process.exitCode = 1;
}

async function runOne(temporal: (typeof TEMPORALS)[number], users: number, events: number, kill: boolean, keep: boolean): Promise<Result> {
  const dir = benchDir();
  const sink = await startSink();
  const bodies: Array<Record<string, unknown>> = [];
  const arrivedAt = new Map<string, number>();
  sink.onBody((body, at) => {
    bodies.push(body);
    const id = String(body.messageId);
    if (!arrivedAt.has(id)) arrivedAt.set(id, at);
  });
  say(`${temporal}: starting the stack in ${dir}`);
  const cluster = await startCluster(temporal, dir, sink.url).catch(async (err: unknown) => {
    await sink.close();
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  try {
    const prefix = `bench-${temporal}-${Date.now().toString(36)}`;
    const sentAt = new Map<string, number>();
    const started = Date.now();
    const load = startOrderedLoad({
      url: (u, n, attempt) => {
        if (attempt === 0) sentAt.set(`${prefix}-${u}-${n}`, Date.now());
        return cluster.url;
      },
      writeKey: WRITE_KEY,
      prefix,
      users,
      eventsPerUser: events,
    });
    if (kill) {
      await waitUntil(() => arrivedAt.size >= (users * events) / 3, { timeoutMs: 10 * 60_000, what: 'a third of the events to arrive' });
      say(`${temporal}: killing worker-1 and gateway-1`);
      await Promise.all([cluster.workers[0]!.kill(), cluster.gateways[0]!.process.kill()]);
    }
    await load.done;
    const ingestSeconds = (Date.now() - started) / 1000;
    const total = [...load.acknowledged.values()].reduce((a, b) => a + b, 0);
    say(`${temporal}: ${total} events acknowledged in ${ingestSeconds.toFixed(1)} s; waiting for deliveries`);
    await waitUntil(() => checkOrdering(prefix, load.acknowledged, bodies).missing === 0, { timeoutMs: 10 * 60_000, intervalMs: 500, what: 'every acknowledged event to arrive' }).catch(
      (err: unknown) => say(`${temporal}: ${(err as Error).message}`),
    );
    const report = checkOrdering(prefix, load.acknowledged, bodies);
    const lastArrival = Math.max(...[...arrivedAt.values()]);
    const arrivals = [...arrivedAt].filter(([id]) => sentAt.has(id)).map(([id, at]) => at - sentAt.get(id)!).sort((a, b) => a - b);
    const acks = [...load.latencies].sort((a, b) => a - b);
    if (report.badUsers.length) say(`${temporal}: users out of order: ${JSON.stringify(report.badUsers)}`);
    return {
      temporal: temporal === 'dev' ? 'dev server (SQLite, 1 shard)' : 'real server 1.29.1 (PostgreSQL, 4 shards)',
      acknowledged: total,
      ingestPerSecond: load.statuses.length / ingestSeconds,
      deliveredPerSecond: report.delivered / ((lastArrival - started) / 1000),
      ackP50: percentile(acks, 50),
      ackP99: percentile(acks, 99),
      arrivalP50: percentile(arrivals, 50),
      arrivalP99: percentile(arrivals, 99),
      violations: report.violations,
      missing: report.missing,
      redelivered: report.duplicates,
      retriedRequests: load.statuses.filter((s) => s !== 200).length,
    };
  } finally {
    await cluster.stop();
    await sink.close();
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function startCluster(temporal: (typeof TEMPORALS)[number], dir: string, sinkUrl: string): Promise<FerryCluster> {
  return FerryCluster.start({
    dir,
    temporal,
    workspace: {
      sources: [
        {
          id: 'bench',
          writeKey: WRITE_KEY,
          enabled: true,
          destinations: [{ id: 'sink', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: sinkUrl } }],
        },
      ],
    },
    env: { FERRY_RELAY_LEASE_MS: '3000', FERRY_DELIVER_TIMEOUT_MS: '5000' },
  });
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
