/**
 * Ingest benchmark: events accepted per second by the gateway, and request latency, on the full stack
 * (`node dist/scripts/start.js`: Temporal dev server, PostgreSQL, worker, gateway as separate
 * processes, on free ports and a temporary data dir). Every accepted request has gone through the
 * real signalWithStart RPC and Temporal's persistence before its 200.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/ingest.js [options]
 *
 *   --duration S      seconds per phase (default 20)
 *   --connections N   concurrent connections at full load (default 50)
 *   --users N         distinct userIds, cycled (default 1000)
 *   --no-destination  a source without destinations: measures ingest without delivery work
 *   --only a,b        run only these phases (names below)
 *   --track-rate N    req/s of `track-half` (default 750)
 *   --batch-rate N    req/s of `batch-half` (default 250), e.g. to find the load where p99 < 50 ms
 *   --keep            keep the data dir and the stack's log
 *   --profile-gateway DIR  run the gateway outside start.js under `node --cpu-prof`, writing its
 *                     profile to DIR when the bench ends (open it in Chrome DevTools › Performance)
 *
 * Phases: `track-max` (single-event /v1/track, as fast as it goes), `batch-max` (/v1/batch of 20
 * events, one user per batch, like a browser SDK's batch), `batch-mixed-max` (20 events for 20
 * users, like a server SDK's batch), then `track-half` at 750 req/s and `batch-half` at 250 req/s
 * (5 000 events/s): half the targets of 1 500 req/s and 10 000 events/s, where p99 should be < 50 ms.
 * For each phase it reports the CPU seconds each process of the stack used, to show where the time goes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { type NodeChild, startNode } from '../processes/children';
import { freePort } from '../processes/ports';
import { type Stack, startStack } from '../processes/stack';
import { benchDir, ROOT, say, startSink } from './support/stack';

const WRITE_KEY = 'bench-write-key';
const BATCH_SIZE = 20;
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

interface Phase {
  readonly name: string;
  readonly path: '/v1/track' | '/v1/batch';
  /** Events per request. */
  readonly events: number;
  /** Users per batch: 1, or one per event. */
  readonly mixedUsers: boolean;
  /** Requests per second in total; unset means as fast as the connections go. */
  readonly rate?: number;
}

const PHASES: readonly Phase[] = [
  { name: 'track-max', path: '/v1/track', events: 1, mixedUsers: false },
  { name: 'batch-max', path: '/v1/batch', events: BATCH_SIZE, mixedUsers: false },
  { name: 'batch-mixed-max', path: '/v1/batch', events: BATCH_SIZE, mixedUsers: true },
  { name: 'track-half', path: '/v1/track', events: 1, mixedUsers: false, rate: 750 },
  { name: 'batch-half', path: '/v1/batch', events: BATCH_SIZE, mixedUsers: false, rate: 250 },
];


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      connections: { type: 'string', default: '50' },
      users: { type: 'string', default: '1000' },
      'no-destination': { type: 'boolean', default: false },
      only: { type: 'string' },
      'track-rate': { type: 'string', default: '750' },
      'batch-rate': { type: 'string', default: '250' },
      keep: { type: 'boolean', default: false },
      'profile-gateway': { type: 'string' },
    },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const users = Number(values.users);
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const rates: Record<string, number> = { 'track-half': Number(values['track-rate']), 'batch-half': Number(values['batch-rate']) };
  const phases = PHASES.filter((p) => !only || only.has(p.name)).map((p) => (p.rate ? { ...p, rate: rates[p.name] ?? p.rate } : p));

  const dir = benchDir();
  const sink = await startSink();
  let delivered = 0;
  sink.onBody(() => (delivered += 1));
  const workspaceFile = path.join(dir, 'workspace.json');
  const destinations = values['no-destination']
    ? []
    : [{ id: 'bench-webhook', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: sink.url } }];
  fs.writeFileSync(workspaceFile, JSON.stringify({ sources: [{ id: 'bench', writeKey: WRITE_KEY, enabled: true, destinations }] }));

  const gatewayPort = await freePort();
  const profileDir = values['profile-gateway'] ? path.resolve(values['profile-gateway']) : undefined;
  const stackEnv = { PORT: String(gatewayPort), FERRY_WORKSPACE_CONFIG: workspaceFile, LOG_LEVEL: 'warn' };
  // NODE_OPTIONS may not carry --cpu-prof, so a profiled gateway is started here instead of by start.js.
  const stack = await startStack(dir, { only: profileDir ? 'temporal,database,worker' : 'temporal,database,worker,gateway', env: stackEnv });
  const gateway = profileDir ? await startProfiledGateway(dir, stack, stackEnv, profileDir) : undefined;
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const results: Array<Record<string, unknown>> = [];
  try {
    await waitForHealth(gatewayUrl);
    say(`stack up (data ${dir}); ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    say('warming up for 5 s…');
    await run(gatewayUrl, { name: 'warm-up', path: '/v1/track', events: 1, mixedUsers: false }, 5, connections, users);
    await settle(() => delivered, 'warm-up');
    for (const phase of phases) {
      const cpuBefore = cpuByComponent([process.pid]);
      const loadBefore = os.loadavg()[0]!;
      say(`${phase.name}: ${phase.rate ? `${phase.rate} req/s` : `${connections} connections, as fast as it goes`} for ${duration} s…`);
      const result = await run(gatewayUrl, phase, duration, connections, users);
      const cpu = diffCpu(cpuBefore, cpuByComponent([process.pid]));
      const accepted = result['2xx'];
      const row = {
        phase: phase.name,
        eventsPerRequest: phase.events,
        targetReqPerSec: phase.rate ?? 'max',
        acceptedReqPerSec: round(accepted / result.duration),
        acceptedEventsPerSec: round((accepted * phase.events) / result.duration),
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        maxMs: result.latency.max,
        loadAvg1m: `${loadBefore.toFixed(2)}→${os.loadavg()[0]!.toFixed(2)}`,
        cpuSeconds: cpu,
      };
      results.push(row);
      say(JSON.stringify(row));
      const drained = await settle(() => delivered, phase.name);
      Object.assign(row, { deliveryDrainSeconds: drained });
    }
  } finally {
    await gateway?.stop();
    await stack.process.stop();
    await sink.close();
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
  }
  printTable(results);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

let sequence = 0;

function run(url: string, phase: Phase, seconds: number, connections: number, users: number): Promise<autocannon.Result> {
  const runId = `${process.pid}-${Date.now().toString(36)}-${phase.name}`;
  const event = (user: number) => {
    sequence += 1;
    return { userId: `bench-user-${user % users}`, event: 'Bench', messageId: `${runId}-${sequence}`, properties: { n: sequence } };
  };
  let cursor = 0;
  const body = (): string => {
    cursor += 1;
    if (phase.events === 1) return JSON.stringify(event(cursor));
    const batch = Array.from({ length: phase.events }, (_, i) => ({ type: 'track', ...event(phase.mixedUsers ? cursor * phase.events + i : cursor) }));
    return JSON.stringify({ batch, sentAt: new Date().toISOString() });
  };
  return autocannon({
    url,
    connections: phase.rate ? Math.max(connections, 100) : connections,
    duration: seconds,
    overallRate: phase.rate,
    requests: [
      {
        method: 'POST',
        path: phase.path,
        headers: { 'content-type': 'application/json', authorization: AUTH },
        setupRequest: (request) => ({ ...request, body: body() }),
      },
    ],
  });
}

/** Waits until deliveries stop arriving (the worker has caught up), at most 3 minutes; returns seconds waited. */
async function settle(delivered: () => number, after: string): Promise<number> {
  const started = Date.now();
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() - started < 180_000) {
    await sleep(1_000);
    if (delivered() !== last) {
      last = delivered();
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 3_000) {
      break;
    }
  }
  const seconds = round((Date.now() - started) / 1000);
  say(`after ${after}: ${delivered()} deliveries so far; settled after ${seconds} s`);
  return seconds;
}

function startProfiledGateway(dir: string, stack: Stack, env: Record<string, string>, profileDir: string): Promise<NodeChild> {
  fs.mkdirSync(profileDir, { recursive: true });
  return startNode('gateway', ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, path.join(ROOT, 'dist', 'api', 'server.js')], { env: { ...env, LOG_LEVEL: 'info', HOST: '127.0.0.1', TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl }, readyText: 'gateway listening', logFile: path.join(dir, 'gateway.log') });
}

async function waitForHealth(url: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`gateway at ${url} not healthy after 120 s`);
    await sleep(500);
  }
}

type CpuSample = Map<string, number>;

/** CPU seconds used so far by each process of the stack (and the load generator): these processes and their descendants. */
function cpuByComponent(rootPids: number[]): CpuSample {
  const ticksPerSecond = 100;
  const children = new Map<number, number[]>();
  const stats = new Map<number, { ticks: number; cmd: string }>();
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      // utime, stime, and the same for waited-for children (cutime, cstime).
      const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      stats.set(pid, { ticks, cmd });
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // The process ended while we looked.
    }
  }
  const sample: CpuSample = new Map();
  const visit = (pid: number) => {
    const stat = stats.get(pid);
    if (stat) {
      const name = componentOf(stat.cmd);
      sample.set(name, (sample.get(name) ?? 0) + stat.ticks / ticksPerSecond);
    }
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const pid of rootPids) visit(pid);
  return sample;
}

function componentOf(cmd: string): string {
  if (cmd.includes('api/server.js')) return 'gateway';
  if (cmd.includes('workers/worker.js')) return 'worker';
  if (cmd.includes('start-dev')) return 'temporal';
  if (cmd.includes('postgres')) return 'postgres';
  if (cmd.includes('scripts/start.js')) return 'start.js';
  if (cmd.includes('bench/ingest.js')) return 'bench (load generator)';
  return 'other';
}

function diffCpu(before: CpuSample, after: CpuSample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, seconds] of after) out[name] = round(seconds - (before.get(name) ?? 0));
  return out;
}

function printTable(rows: Array<Record<string, unknown>>): void {
  const header = ['phase', 'target', 'req/s', 'events/s', 'p50 ms', 'p99 ms', 'non-2xx', 'CPU s (gateway/temporal/worker/postgres/bench)'];
  const lines = rows.map((r) => {
    const cpu = r.cpuSeconds as Record<string, number>;
    return [
      r.phase,
      r.targetReqPerSec,
      r.acceptedReqPerSec,
      r.acceptedEventsPerSec,
      r.p50Ms,
      r.p99Ms,
      r.non2xx,
      ['gateway', 'temporal', 'worker', 'postgres', 'bench (load generator)'].map((k) => cpu[k] ?? 0).join(' / '),
    ].map(String);
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`${format(header)}\n${lines.map(format).join('\n')}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number) => Math.round(n * 10) / 10;

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
