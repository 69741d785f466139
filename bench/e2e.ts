/**
 * End-to-end benchmark: events delivered per second and the latency from gateway acceptance
 * (the event's receivedAt) to receipt at a local webhook, with 2 destinations, on the full stack of
 * separate processes (dev server, PostgreSQL, worker, gateway). Checks every user's order at both
 * destinations. Then it opens `--active` user workflows at once and reports the worker's peak RSS.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/e2e.js [--users 1000] [--events 20000]
 *     [--senders 8] [--active 10000] [--keep]
 *
 * The worker runs with npm start's heap cap (--max-old-space-size=512); BENCH_WORKER_NODE_ARGS replaces
 * its node flags, e.g. to add --cpu-prof.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startNode } from '../processes/children';
import { freePort } from '../processes/ports';
import { startStack } from '../processes/stack';
import { benchDir, cpuSeconds, memoryMb, percentile, ROOT, say, startSink, type Sink } from './support/stack';

const WRITE_KEY = 'e2e-write-key';
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const BATCH = 20;

interface Delivery {
  readonly user: string;
  readonly seq: number;
  readonly latencyMs: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '1000' },
      events: { type: 'string', default: '20000' },
      senders: { type: 'string', default: '8' },
      active: { type: 'string', default: '10000' },
      keep: { type: 'boolean', default: false },
    },
  });
  const users = Number(values.users);
  const events = Number(values.events);
  const senders = Number(values.senders);
  const active = Number(values.active);

  const dir = benchDir();
  const sinks = [await startSink(), await startSink()];
  const deliveries: Delivery[][] = [[], []];
  sinks.forEach((sink, i) => record(sink, deliveries[i]!));
  fs.writeFileSync(
    path.join(dir, 'workspace.json'),
    JSON.stringify({
      sources: [
        {
          id: 'e2e',
          writeKey: WRITE_KEY,
          enabled: true,
          destinations: sinks.map((sink, i) => ({
            id: `hook-${i}`,
            enabled: true,
            destinationDefinition: { name: 'WEBHOOK' },
            config: { webhookUrl: sink.url },
          })),
        },
      ],
    }),
  );

  say(`starting the stack in ${dir}`);
  const infra = await startStack(dir);
  const port = await freePort();
  const env = {
    TEMPORAL_ADDRESS: infra.temporalAddress,
    DATABASE_URL: infra.databaseUrl,
    FERRY_WORKSPACE_CONFIG: path.join(dir, 'workspace.json'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
  const worker = await startNode('worker', [...(process.env.BENCH_WORKER_NODE_ARGS ?? '--max-old-space-size=512').split(' '), path.join(ROOT, 'dist', 'workers', 'worker.js')], { env, readyText: 'worker running', logFile: path.join(dir, 'worker.log') });
  const gateway = await startNode('gateway', [path.join(ROOT, 'dist', 'api', 'server.js')], { env, readyText: 'gateway listening', logFile: path.join(dir, 'gateway.log') });
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const pids: Record<string, number | undefined> = { worker: worker.child.pid, gateway: gateway.child.pid, temporal: infra.pids.temporal, postgres: infra.pids.postgres };

  try {
    // Throughput: each sender owns a slice of the users, so every user's events are sent in order.
    say(`sending ${events} events for ${users} users in batches of ${BATCH} from ${senders} senders`);
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const started = Date.now();
    let sent = 0;
    const nextSeq = new Map<string, number>();
    await Promise.all(
      Array.from({ length: senders }, async (_, s) => {
        const mine = Array.from({ length: Math.ceil(users / senders) }, (_, i) => `u${i * senders + s}`).filter((u) => Number(u.slice(1)) < users);
        let cursor = 0;
        while (sent < events) {
          const batch = [];
          for (let i = 0; i < BATCH && sent < events; i++, sent++) {
            const user = mine[cursor++ % mine.length]!;
            const seq = (nextSeq.get(user) ?? 0) + 1;
            nextSeq.set(user, seq);
            batch.push({ type: 'track', userId: user, event: 'Bench', properties: { seq } });
          }
          await post(gatewayUrl, batch);
        }
      }),
    );
    const acceptedAt = Date.now();
    await waitFor(() => deliveries.every((d) => d.length >= events), 600_000, 'every delivery');
    const finished = Date.now();
    const cpu = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, +(cpuSeconds(pid) - cpuBefore[k]!).toFixed(1)]));

    const latencies = deliveries.flat().map((d) => d.latencyMs).sort((a, b) => a - b);
    const seconds = (finished - started) / 1000;
    const ordered = deliveries.every(inOrderPerUser);
    const result = {
      users,
      events,
      destinations: 2,
      acceptSeconds: +((acceptedAt - started) / 1000).toFixed(1),
      totalSeconds: +seconds.toFixed(1),
      eventsDeliveredPerSecond: Math.round(events / seconds),
      deliveriesPerSecond: Math.round((2 * events) / seconds),
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) },
      orderIntact: ordered,
      duplicates: deliveries.map((d) => d.length - events),
      cpuSeconds: cpu,
      workerMemoryMb: memoryMb(worker.child.pid),
    };
    say(`throughput: ${JSON.stringify(result)}`);

    if (active > 0) {
      say(`opening ${active} concurrently active user workflows`);
      for (const d of deliveries) d.length = 0;
      for (let i = 0; i < active; i += BATCH) {
        const batch = Array.from({ length: Math.min(BATCH, active - i) }, (_, j) => ({ type: 'track', userId: `active-${i + j}`, event: 'Open', properties: { seq: 1 } }));
        await post(gatewayUrl, batch);
      }
      await waitFor(() => deliveries.every((d) => d.length >= active), 900_000, 'the active users’ deliveries');
      const connection = await Connection.connect({ address: infra.temporalAddress });
      const running = await new Client({ connection }).workflow.count('ExecutionStatus = "Running"');
      await connection.close();
      say(`active: ${JSON.stringify({ runningWorkflows: running.count, workerMemoryMb: memoryMb(worker.child.pid) })}`);
    }
  } finally {
    await gateway.stop();
    await worker.stop();
    await infra.process.stop();
    await Promise.all(sinks.map((s) => s.close()));
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function record(sink: Sink, into: Delivery[]): void {
  sink.onBody((body, at) => {
    const props = body.properties as { seq?: number } | undefined;
    into.push({ user: String(body.userId), seq: props?.seq ?? 0, latencyMs: at - Date.parse(String(body.receivedAt)) });
  });
}

function inOrderPerUser(list: readonly Delivery[]): boolean {
  const last = new Map<string, number>();
  for (const d of list) {
    if ((last.get(d.user) ?? 0) >= d.seq) return false;
    last.set(d.user, d.seq);
  }
  return true;
}

async function post(url: string, batch: unknown[]): Promise<void> {
  for (;;) {
    const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
    await res.text();
    if (res.status === 200) return;
    // 503 means "not stored, retry", as SDKs do.
    if (res.status !== 503) throw new Error(`gateway answered ${res.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
