/**
 * End-to-end benchmark on the full stack of separate processes (dev server, PostgreSQL, worker,
 * gateway): from the gateway's 200 to receipt at local webhooks. Three phases, each reported apart:
 *
 * - `idle`: one event at a time into an idle stack, waiting for each delivery: the latency a user sees
 *   when nothing else is going on.
 * - `sustained`: single-event `/v1/track` at a fixed rate well below saturation: latency without a
 *   backlog. A phase whose deliveries lag behind its sending is flagged as saturated.
 * - `burst`: the throughput workload, all at once: `--events` over `--users`, posted as `/v1/batch` of
 *   20 by `--senders` concurrent senders (each owns a slice of the users, so each user's events go in
 *   order), first post to last delivery.
 *
 * Every phase checks that every accepted event arrived at every destination, counts duplicates, and
 * checks each user's order at each destination. Then, with `--active N`, it opens N user workflows at
 * once and reports the worker's peak RSS.
 *
 *   npm run build && node dist/bench/e2e.js [--users 1000] [--events 20000] [--senders 20]
 *     [--destinations 1] [--rate 200] [--sustain 20] [--idle 50] [--active 0] [--only idle,sustained,burst]
 *     [--temporal dev|cluster] [--keep]
 *
 * `--temporal cluster` runs Temporal as `npm start -- --cluster` does (the real server on the embedded
 * PostgreSQL, 4 history shards) instead of the dev server (SQLite, 1 shard).
 *
 * The worker runs with npm start's heap cap (--max-old-space-size=512); BENCH_WORKER_NODE_ARGS replaces
 * its node flags, e.g. to add --cpu-prof.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Ledger, type LedgerReport } from './support/ledger';
import { benchDir, cpuSeconds, memoryMb, percentile, say, startFerry, startSink } from './support/stack';

const WRITE_KEY = 'bench-write-key';
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const BATCH = 20;
const PHASES = ['idle', 'sustained', 'burst'] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '1000' },
      events: { type: 'string', default: '20000' },
      senders: { type: 'string', default: '20' },
      destinations: { type: 'string', default: '1' },
      rate: { type: 'string', default: '200' },
      sustain: { type: 'string', default: '20' },
      idle: { type: 'string', default: '50' },
      active: { type: 'string', default: '0' },
      only: { type: 'string' },
      temporal: { type: 'string', default: 'dev' },
      keep: { type: 'boolean', default: false },
    },
  });
  if (values.temporal !== 'dev' && values.temporal !== 'cluster') throw new Error(`--temporal is dev or cluster, not ${values.temporal}`);
  const options = {
    users: Number(values.users),
    events: Number(values.events),
    senders: Number(values.senders),
    rate: Number(values.rate),
    sustainSeconds: Number(values.sustain),
    idleEvents: Number(values.idle),
  };
  const phases = new Set(values.only ? values.only.split(',') : PHASES);
  const active = Number(values.active);

  const dir = benchDir();
  const sinks = await Promise.all(Array.from({ length: Number(values.destinations) }, () => startSink()));
  const ledger = new Ledger(sinks);
  const workspace = {
    sources: [
      {
        id: 'e2e',
        writeKey: WRITE_KEY,
        enabled: true,
        destinations: sinks.map((sink, i) => ({ id: `hook-${i}`, enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: sink.url } })),
      },
    ],
  };
  const ferry = await startFerry(dir, workspace, { workerNodeArgs: (process.env.BENCH_WORKER_NODE_ARGS ?? '--max-old-space-size=512').split(' '), cluster: values.temporal === 'cluster' });
  const { stack, worker, gateway, gatewayUrl } = ferry;
  const pids: Record<string, number | undefined> = { worker: worker.child.pid, gateway: gateway.child.pid, temporal: stack.pids.temporal, postgres: stack.pids.postgres };
  const results: Record<string, unknown> = { temporal: values.temporal, users: options.users, destinations: sinks.length };

  try {
    const runId = `${process.pid}-${Date.now().toString(36)}`;
    if (phases.has('idle')) results.idle = await idlePhase(gatewayUrl, ledger, runId, options.idleEvents);
    if (phases.has('sustained')) results.sustained = await sustainedPhase(gatewayUrl, ledger, runId, options);
    if (phases.has('burst')) {
      const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
      const burst = await burstPhase(gatewayUrl, ledger, runId, options);
      results.burst = { ...burst, cpuSeconds: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, +(cpuSeconds(pid) - cpuBefore[k]!).toFixed(1)])) };
    }
    results.workerMemoryMb = memoryMb(worker.child.pid);
    say(JSON.stringify(results));

    if (active > 0) {
      say(`opening ${active} concurrently active user workflows`);
      const before = ledger.acceptedCount;
      for (let i = 0; i < active; i += BATCH) {
        const entries = Array.from({ length: Math.min(BATCH, active - i) }, (_, j) => ledger.event(`active-${runId}-${i + j}`, `${runId}-active-${i + j}`));
        await postBatch(gatewayUrl, ledger, entries);
      }
      if (!(await ledger.drained(900_000))) say(`WARNING: ${ledger.report().missing} of the active users' events were not delivered`);
      const connection = await Connection.connect({ address: stack.temporalAddress });
      const running = await new Client({ connection }).workflow.count('ExecutionStatus = "Running"');
      await connection.close();
      results.active = { opened: ledger.acceptedCount - before, runningWorkflows: running.count, workerMemoryMb: memoryMb(worker.child.pid) };
      say(`active: ${JSON.stringify(results.active)}`);
    }
  } finally {
    await ferry.stop();
    await Promise.all(sinks.map((s) => s.close()));
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

interface PhaseResult {
  readonly check: LedgerReport;
}

/** One event at a time, each waited for: the stack is idle whenever an event arrives. */
async function idlePhase(url: string, ledger: Ledger, runId: string, count: number): Promise<PhaseResult & Record<string, unknown>> {
  say(`idle: ${count} events one at a time`);
  const ids = new Set<string>();
  for (let i = 0; i < count; i++) {
    const messageId = `${runId}-idle-${i}`;
    ids.add(messageId);
    const { event, seq } = ledger.event(`idle-${runId}-${i % 10}`, messageId);
    await postTrack(url, ledger, event, seq);
    const before = ledger.deliveryCount;
    const deadline = Date.now() + 30_000;
    while (ledger.deliveryCount === before && Date.now() < deadline) await sleep(2);
    // Let the stack go quiet again (the workflow finishes its task) before the next one.
    await sleep(200);
  }
  const latencies = ledger.latencies((id) => ids.has(id));
  const result = { events: count, latencyMs: summary(latencies), check: ledger.report() };
  say(`idle: ${JSON.stringify(result)}`);
  return result;
}

/** Single events at a fixed rate across the users: latency without a backlog, if the stack keeps up. */
async function sustainedPhase(
  url: string,
  ledger: Ledger,
  runId: string,
  { rate, sustainSeconds, users }: { rate: number; sustainSeconds: number; users: number },
): Promise<PhaseResult & Record<string, unknown>> {
  say(`sustained: ${rate} events/s for ${sustainSeconds} s`);
  const ids = new Set<string>();
  const started = Date.now();
  const total = rate * sustainSeconds;
  // A user's next event is sent once its previous one was answered, as an SDK does: requests of one
  // user in flight together have no order, so the order check would be meaningless.
  const previous = new Map<string, Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const messageId = `${runId}-sustained-${i}`;
    ids.add(messageId);
    const user = `sustained-${runId}-${i % users}`;
    const { event, seq } = ledger.event(user, messageId);
    previous.set(user, (previous.get(user) ?? Promise.resolve()).then(() => postTrack(url, ledger, event, seq)));
  }
  await Promise.all(previous.values());
  const sentSeconds = (Date.now() - started) / 1000;
  const drained = await ledger.drained(120_000);
  const lagSeconds = (ledger.lastDeliveryAt() - started) / 1000 - sentSeconds;
  const latencies = ledger.latencies((id) => ids.has(id));
  const result = {
    targetPerSecond: rate,
    sentPerSecond: Math.round(total / sentSeconds),
    latencyMs: summary(latencies),
    // A stack that keeps up finishes delivering right after the last send.
    saturated: lagSeconds > 2,
    drainAfterLastSendSeconds: +lagSeconds.toFixed(1),
    check: ledger.report(),
  };
  if (!drained) say('WARNING: the sustained phase did not drain within 120 s; its backlog spills into the next phase');
  else if (result.saturated) say(`WARNING: deliveries ended ${result.drainAfterLastSendSeconds} s after the last send: ${rate}/s is above what this stack sustains, so these latencies include a backlog`);
  say(`sustained: ${JSON.stringify(result)}`);
  return result;
}

/** The throughput workload: everything at once, first post to last delivery. */
async function burstPhase(
  url: string,
  ledger: Ledger,
  runId: string,
  { users, events, senders }: { users: number; events: number; senders: number },
): Promise<PhaseResult & Record<string, unknown>> {
  say(`burst: ${events} events for ${users} users in batches of ${BATCH} from ${senders} senders`);
  const started = Date.now();
  let sent = 0;
  const ids = new Set<string>();
  await Promise.all(
    Array.from({ length: senders }, async (_, s) => {
      const mine = Array.from({ length: users }, (_, i) => i).filter((i) => i % senders === s).map((i) => `burst-${runId}-u${i}`);
      let cursor = 0;
      while (sent < events) {
        const entries = [];
        for (let i = 0; i < BATCH && sent < events; i++, sent++) {
          const messageId = `${runId}-burst-${sent}`;
          ids.add(messageId);
          entries.push(ledger.event(mine[cursor++ % mine.length]!, messageId));
        }
        await postBatch(url, ledger, entries);
      }
    }),
  );
  const acceptedAt = Date.now();
  const drained = await ledger.drained(900_000);
  if (!drained) say('WARNING: the burst did not drain within 15 minutes');
  const finished = ledger.lastDeliveryAt();
  const seconds = (finished - started) / 1000;
  const latencies = ledger.latencies((id) => ids.has(id));
  const result = {
    events,
    acceptSeconds: +((acceptedAt - started) / 1000).toFixed(1),
    acceptedEventsPerSecond: Math.round(events / ((acceptedAt - started) / 1000)),
    totalSeconds: +seconds.toFixed(1),
    deliveredEventsPerSecond: Math.round(events / seconds),
    // Includes the backlog: the burst is offered faster than it drains.
    latencyMs: summary(latencies),
    check: ledger.report(),
  };
  say(`burst: ${JSON.stringify(result)}`);
  return result;
}

async function postTrack(url: string, ledger: Ledger, event: Record<string, unknown>, seq: number): Promise<void> {
  await postUntilStored(`${url}/v1/track`, event);
  ledger.accept(String(event.messageId), String(event.userId), seq);
}

async function postBatch(url: string, ledger: Ledger, entries: ReadonlyArray<{ event: Record<string, unknown>; seq: number }>): Promise<void> {
  await postUntilStored(`${url}/v1/batch`, { batch: entries.map((e) => e.event) });
  for (const { event, seq } of entries) ledger.accept(String(event.messageId), String(event.userId), seq);
}

/** Posts until the gateway says 200; a 503 means "not stored, retry", as SDKs do (same messageIds). */
async function postUntilStored(url: string, body: unknown): Promise<void> {
  for (;;) {
    const res = await fetch(url, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await res.text();
    if (res.status === 200) return;
    if (res.status !== 503) throw new Error(`gateway answered ${res.status}`);
    await sleep(200);
  }
}

function summary(sorted: readonly number[]): { p50: number; p90: number; p99: number; max: number } {
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
