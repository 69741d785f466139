/**
 * Ingest benchmark: events accepted per second by the gateway, and request latency, on the full stack
 * (`node dist/scripts/start.js`: Temporal dev server, PostgreSQL, worker, gateway as separate
 * processes, on free ports and a temporary data dir). After each phase it waits until every accepted
 * event reached the webhook and reports missing, duplicated and out-of-order deliveries; a phase
 * whose backlog does not drain in time is flagged, because it spills into the next phase.
 *
 *   npm run build && node dist/bench/ingest.js [options]
 *
 *   --duration S      seconds per phase (default 20)
 *   --connections N   concurrent connections of the phases that do not fix their own (default 50)
 *   --users N         distinct userIds, cycled (default 1000)
 *   --no-destination  a source without destinations: measures ingest without delivery work
 *   --only a,b        run only these phases (names below)
 *   --track-rate N    req/s of `track-paced` (default 1500)
 *   --batch-rate N    req/s of `batch-paced` (default 250)
 *   --keep            keep the data dir and the stack's log
 *   --profile-gateway DIR  run the gateway outside start.js under `node --cpu-prof`, writing its
 *                     profile to DIR when the bench ends (open it in Chrome DevTools › Performance)
 *   --floor           the same load against the design's floor instead of Ferry (support/floorGateway.ts:
 *                     bare express and group commit on the same PostgreSQL; no Temporal, no worker)
 *
 * Phases:
 * - `track-max`: single-event /v1/track over 1 000 distinct users, 50 connections, as fast as it goes;
 * - `batch-mixed-max`: /v1/batch of 20 events for 20 distinct users (a server SDK's batch), 20 connections;
 * - `batch-max`: /v1/batch of 20 events of one user (a browser SDK's batch), 20 connections;
 * - `track-paced`: /v1/track at 1 500 req/s, for the p99 at that rate;
 * - `batch-paced`: mixed batches at 250 req/s (5 000 events/s).
 * For each phase it reports the CPU seconds each process of the stack used, to show where the time goes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { GATEWAY_SEMI_SPACE_MB } from '../config/env';
import { type NodeChild, startNode } from '../processes/children';
import { freePort } from '../processes/ports';
import { type Stack, startStack } from '../processes/stack';
import { Ledger, type LedgerReport } from './support/ledger';
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
  /** Concurrent connections; unset means --connections. */
  readonly connections?: number;
  /** Requests per second in total; unset means as fast as the connections go. */
  readonly rate?: number;
}

const PHASES: readonly Phase[] = [
  { name: 'track-max', path: '/v1/track', events: 1, mixedUsers: false },
  { name: 'batch-mixed-max', path: '/v1/batch', events: BATCH_SIZE, mixedUsers: true, connections: 20 },
  { name: 'batch-max', path: '/v1/batch', events: BATCH_SIZE, mixedUsers: false, connections: 20 },
  { name: 'track-paced', path: '/v1/track', events: 1, mixedUsers: false, rate: 1500 },
  { name: 'batch-paced', path: '/v1/batch', events: BATCH_SIZE, mixedUsers: true, rate: 250 },
];


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      connections: { type: 'string', default: '50' },
      users: { type: 'string', default: '1000' },
      'no-destination': { type: 'boolean', default: false },
      only: { type: 'string' },
      'track-rate': { type: 'string', default: '1500' },
      'batch-rate': { type: 'string', default: '250' },
      keep: { type: 'boolean', default: false },
      'profile-gateway': { type: 'string' },
      floor: { type: 'boolean', default: false },
    },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const users = Number(values.users);
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const rates: Record<string, number> = { 'track-paced': Number(values['track-rate']), 'batch-paced': Number(values['batch-rate']) };
  const phases = PHASES.filter((p) => !only || only.has(p.name)).map((p) => (p.rate ? { ...p, rate: rates[p.name] ?? p.rate } : p));

  const dir = benchDir();
  const sink = await startSink();
  const floor = values.floor;
  // The floor stores and delivers nothing further, so there is nothing to wait for after a phase.
  const noDestination = values['no-destination'] || floor;
  const ledger = new Ledger(noDestination ? [] : [sink]);
  const workspaceFile = path.join(dir, 'workspace.json');
  const destinations = noDestination
    ? []
    : [{ id: 'bench-webhook', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: sink.url } }];
  fs.writeFileSync(workspaceFile, JSON.stringify({ sources: [{ id: 'bench', writeKey: WRITE_KEY, enabled: true, destinations }] }));

  const gatewayPort = await freePort();
  const profileDir = values['profile-gateway'] ? path.resolve(values['profile-gateway']) : undefined;
  const stackEnv = { PORT: String(gatewayPort), FERRY_WORKSPACE_CONFIG: workspaceFile, LOG_LEVEL: 'warn' };
  // NODE_OPTIONS may not carry --cpu-prof, so a profiled gateway is started here instead of by start.js.
  const components = floor ? 'database' : profileDir ? 'temporal,database,worker' : 'temporal,database,worker,gateway';
  const stack = await startStack(dir, { only: components, env: stackEnv });
  const gateway = floor || profileDir ? await startGateway(dir, stack, stackEnv, { profileDir, floor }) : undefined;
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const results: Array<Record<string, unknown>> = [];
  try {
    await waitForHealth(gatewayUrl, { relay: !floor });
    say(`stack up (data ${dir}); ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    say('warming up for 5 s…');
    await run(gatewayUrl, { name: 'warm-up', path: '/v1/track', events: 1, mixedUsers: false }, 5, connections, users, ledger);
    await settle(ledger, noDestination, 'warm-up');
    for (const phase of phases) {
      const cpuBefore = cpuByComponent([process.pid]);
      const loadBefore = os.loadavg()[0]!;
      say(`${phase.name}: ${phase.rate ? `${phase.rate} req/s` : `${phase.connections ?? connections} connections, as fast as it goes`} for ${duration} s…`);
      const result = await run(gatewayUrl, phase, duration, phase.connections ?? connections, users, ledger);
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
      const { seconds, drained } = await settle(ledger, noDestination, phase.name);
      Object.assign(row, { deliveryDrainSeconds: seconds, check: noDestination ? undefined : ledger.report() });
      if (!drained) say(`WARNING: ${phase.name}'s backlog was not delivered within ${SETTLE_LIMIT_S} s: it spills into the next phase, whose figures it distorts`);
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

/** Per autocannon connection: the events of the request in flight, accepted when it answers 200. */
interface InFlight {
  entries?: Array<{ messageId: string; user: string; seq: number }>;
}

function run(url: string, phase: Phase, seconds: number, connections: number, users: number, ledger: Ledger): Promise<autocannon.Result> {
  const runId = `${process.pid}-${Date.now().toString(36)}-${phase.name}`;
  const next = (user: number) => {
    sequence += 1;
    const userId = `bench-user-${user % users}`;
    const { event, seq } = ledger.event(userId, `${runId}-${sequence}`);
    return { event, entry: { messageId: String(event.messageId), user: userId, seq } };
  };
  let cursor = 0;
  const body = (inFlight: InFlight): string => {
    cursor += 1;
    const made = Array.from({ length: phase.events }, (_, i) => next(phase.mixedUsers ? cursor * phase.events + i : cursor));
    inFlight.entries = made.map((m) => m.entry);
    if (phase.events === 1) return JSON.stringify(made[0]!.event);
    return JSON.stringify({ batch: made.map((m) => m.event), sentAt: new Date().toISOString() });
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
        setupRequest: (request, context) => ({ ...request, body: body(context as InFlight) }),
        onResponse: (status, _body, context) => {
          const inFlight = context as InFlight;
          for (const e of inFlight.entries ?? []) {
            if (status === 200) ledger.accept(e.messageId, e.user, e.seq);
            else ledger.refuse(e.messageId);
          }
          inFlight.entries = undefined;
        },
      },
    ],
  });
}

const SETTLE_LIMIT_S = 180;

/**
 * Waits until every accepted event is delivered (or, without a destination, until nothing more
 * arrives), at most SETTLE_LIMIT_S; says how long it took and whether the backlog drained.
 */
async function settle(ledger: Ledger, noDestination: boolean, after: string): Promise<{ seconds: number; drained: boolean }> {
  const started = Date.now();
  const drained = noDestination ? true : await ledger.drained(SETTLE_LIMIT_S * 1000);
  const seconds = round((Date.now() - started) / 1000);
  say(`after ${after}: ${ledger.deliveryCount} deliveries of ${ledger.acceptedCount} accepted events; ${drained ? 'drained' : 'NOT drained'} after ${seconds} s`);
  return { seconds, drained };
}

/** Ferry's gateway (or the floor's) outside start.js, optionally under `node --cpu-prof`. */
function startGateway(dir: string, stack: Stack, env: Record<string, string>, { profileDir, floor }: { profileDir?: string; floor: boolean }): Promise<NodeChild> {
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  // The floor runs with the same V8 settings as Ferry's gateway, which start.js gives it.
  const nodeArgs = [`--max-semi-space-size=${GATEWAY_SEMI_SPACE_MB}`, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  const script = floor ? path.join(ROOT, 'dist', 'bench', 'support', 'floorGateway.js') : path.join(ROOT, 'dist', 'api', 'server.js');
  return startNode('gateway', [...nodeArgs, script], { env: { ...env, LOG_LEVEL: 'info', HOST: '127.0.0.1', TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl }, readyText: floor ? 'floor gateway listening' : 'gateway listening', logFile: path.join(dir, 'gateway.log') });
}

/**
 * Until the gateway answers /health, and, with `relay`, until a relay owns every bucket: start.js does
 * not wait for the worker, whose start (bundling the workflow code takes seconds of CPU) would
 * otherwise overlap the first phase and take its CPU.
 */
async function waitForHealth(url: string, { relay }: { relay: boolean }): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      const report = (await res.json()) as { components?: { relay?: { ok?: boolean } } };
      if (res.ok && (!relay || report.components?.relay?.ok === true)) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`gateway at ${url} not healthy${relay ? ' with every bucket relayed' : ''} after 120 s`);
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
  if (cmd.includes('api/server.js') || cmd.includes('floorGateway.js')) return 'gateway';
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
  const header = ['phase', 'target', 'req/s', 'events/s', 'p50 ms', 'p99 ms', 'non-2xx', 'drain s', 'missing/dup/order', 'CPU s (gateway/temporal/worker/postgres/bench)'];
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
      r.deliveryDrainSeconds,
      r.check ? `${(r.check as LedgerReport).missing}/${(r.check as LedgerReport).duplicates}/${(r.check as LedgerReport).orderViolations}` : '-',
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
