/**
 * The gateway under at least 100 000 bad requests across every endpoint (`npm run bench:fuzz`): the
 * fuzz corpus the unit and contract fuzz tests use (bad bodies, encodings, content types, credentials,
 * paths and methods; pixels), plus hostile requests aimed at the limits (JSON nested too deep, too many
 * headers, headers too large, bodies over the size limit) and at the admin API (no token, a wrong one,
 * malformed bodies). The gateway runs as its own process against Temporal and PostgreSQL, as
 * `npm start` runs it.
 *
 * Passes when no answer is a 5xx, the gateway process never exits, and the log holds exactly the events
 * of the requests answered 200: a refused request stored nothing. Pixels answer 200 whether they stored
 * or not, so they are checked by a bound: at most one event each.
 *
 *   node dist/bench/fuzz.js [--requests 100000] [--concurrency 32] [--seed N] [--keep]
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { Pool } from 'pg';
import { startNode } from '../processes/children';
import { freePort } from '../processes/ports';
import { type Stack, startStack } from '../processes/stack';
import { DISABLED_KEY, type FuzzRequest, MAX_BYTES, oddRequest, pixelRequest, postRequest, send, SINGLE, WRITE_KEY } from '../fuzz/corpus';
import { benchDir, ROOT, say } from './support/stack';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '32' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const TOTAL = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const SEED = args.seed === undefined ? Date.now() % 2 ** 31 : Number(args.seed);
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
/** The limits the hostile requests aim at (the gateway's defaults). */
const MAX_JSON_DEPTH = 64;
const MAX_HEADERS = 100;

/** Kinds of request the run sends, for the report. */
type Kind = 'post' | 'pixel' | 'odd' | 'deep-json' | 'headers' | 'header-bytes' | 'too-large' | 'admin';

interface Planned {
  readonly kind: Kind;
  readonly request: FuzzRequest;
  /** Events stored if the answer is 200 (POSTs whose JSON parses). */
  readonly events?: number;
}

function eventCount(req: FuzzRequest): number | undefined {
  if (req.text === undefined) return undefined;
  try {
    const parsed = JSON.parse(req.text) as { batch?: unknown[] };
    if (req.path in SINGLE) return 1;
    return Array.isArray(parsed.batch) ? parsed.batch.length : undefined;
  } catch {
    return undefined;
  }
}

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

function nested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** Hostile requests aimed at the limits and the admin API; `i` varies them. */
function hostile(i: number): Planned {
  const auth = { authorization: basic(WRITE_KEY), 'content-type': 'application/json' };
  switch (i % 6) {
    case 0: {
      const depth = MAX_JSON_DEPTH + 1 + (i % 500);
      const text = JSON.stringify({ type: 'track', userId: 'u', event: 'Deep', properties: JSON.parse(nested(depth)) });
      return { kind: 'deep-json', request: { method: 'POST', path: i % 12 === 0 ? '/v1/batch' : '/v1/track', query: '', headers: auth, body: Buffer.from(text), text, mustAccept: false } };
    }
    case 1: {
      const headers: Record<string, string> = { ...auth };
      for (let h = 0; h < MAX_HEADERS + (i % 50); h++) headers[`x-fuzz-${h}`] = String(h);
      const text = JSON.stringify({ userId: 'u', event: 'Headers' });
      return { kind: 'headers', request: { method: 'POST', path: '/v1/track', query: '', headers, body: Buffer.from(text), text, mustAccept: false } };
    }
    case 2: {
      const text = JSON.stringify({ userId: 'u', event: 'Header bytes' });
      return { kind: 'header-bytes', request: { method: 'POST', path: '/v1/track', query: '', headers: { ...auth, 'x-big': 'x'.repeat(17_000) }, body: Buffer.from(text), text, mustAccept: false } };
    }
    case 3: {
      const text = JSON.stringify({ batch: [{ type: 'track', userId: 'u', event: 'Big', properties: { padding: 'x'.repeat(MAX_BYTES + (i % 1000)) } }] });
      return { kind: 'too-large', request: { method: 'POST', path: '/v1/batch', query: '', headers: auth, body: Buffer.from(text), text, mustAccept: false } };
    }
    default: {
      const routes: Array<[FuzzRequest['method'], string]> = [
        ['GET', '/admin/status'],
        ['POST', '/admin/degrade'],
        ['POST', '/admin/recover'],
        ['POST', '/admin/destinations/x/pause'],
        ['GET', '/admin/destinations/x/stuck'],
        ['POST', '/admin/replays'],
        ['POST', '/admin/redrives'],
        ['GET', '/admin/jobs/replay/x'],
        ['POST', '/admin/reprocess'],
      ];
      const [method, route] = routes[i % routes.length]!;
      const tokens = [undefined, 'Bearer wrong', `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, basic(ADMIN_TOKEN)];
      // The right token only with a body that cannot be valid: the request must stop at validation.
      const withToken = method === 'POST' && Math.floor(i / 6) % 3 === 0;
      // Each invalid for every admin schema (a reason must be text, every schema is strict).
      const bodies = ['{', nested(MAX_JSON_DEPTH * 4), '{"reason": 7, "extra": true}', '"text"'];
      const text = method === 'POST' ? bodies[i % bodies.length]! : undefined;
      const token = withToken ? `Bearer ${ADMIN_TOKEN}` : tokens[i % tokens.length];
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) };
      return { kind: 'admin', request: { method, path: route, query: '', headers, ...(text === undefined ? {} : { body: Buffer.from(text) }), mustAccept: false } };
    }
  }
}

/** `TOTAL` bad requests: a tenth hostile, the rest from the corpus minus what is valid by construction. */
function plan(): Planned[] {
  const planned: Planned[] = [];
  const hostileCount = Math.floor(TOTAL / 10);
  for (let i = 0; i < hostileCount; i++) planned.push(hostile(i));
  const corpus = fc.oneof(
    { weight: 6, arbitrary: postRequest.map((request): Planned => ({ kind: 'post', request, events: eventCount(request) })) },
    { weight: 2, arbitrary: pixelRequest.map((request): Planned => ({ kind: 'pixel', request })) },
    { weight: 2, arbitrary: oddRequest.map((request): Planned => ({ kind: 'odd', request })) },
  );
  let seed = SEED;
  while (planned.length < TOTAL) {
    for (const item of fc.sample(corpus, { numRuns: 5_000, seed: seed++ })) {
      if (item.request.mustAccept) continue;
      planned.push(item);
      if (planned.length >= TOTAL) break;
    }
  }
  return planned;
}

async function main(): Promise<void> {
  const dir = benchDir();
  const workspaceFile = path.join(dir, 'workspace.json');
  fs.writeFileSync(
    workspaceFile,
    JSON.stringify({
      sources: [
        { id: 'src-fuzz', writeKey: WRITE_KEY, enabled: true, destinations: [] },
        { id: 'src-off', writeKey: DISABLED_KEY, enabled: false, destinations: [] },
      ],
    }),
  );
  say(`planning ${TOTAL} bad requests (seed ${SEED})`);
  const planned = plan();
  const stack = await startStack(dir);
  try {
    await fuzz(dir, workspaceFile, stack, planned);
  } finally {
    await stack.process.stop(60_000);
    if (!args.keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
  }
}

async function fuzz(dir: string, workspaceFile: string, stack: Stack, planned: readonly Planned[]): Promise<void> {
  const port = await freePort();
  const env = {
    TEMPORAL_ADDRESS: stack.temporalAddress,
    DATABASE_URL: stack.databaseUrl,
    FERRY_WORKSPACE_CONFIG: workspaceFile,
    PORT: String(port),
    HOST: '127.0.0.1',
    // Info is where the gateway says it is listening; it logs no line per refused request.
    LOG_LEVEL: 'info',
    FERRY_MAX_REQUEST_KB: String(MAX_BYTES / 1024),
    FERRY_ADMIN_TOKEN: ADMIN_TOKEN,
  };
  const gateway = await startNode('gateway', [path.join(ROOT, 'dist', 'api', 'server.js')], { env, readyText: 'gateway listening', logFile: path.join(dir, 'gateway.log') });
  let exited: string | undefined;
  gateway.child.once('exit', (code, signal) => {
    exited = `gateway exited (code ${code}, signal ${signal})`;
  });
  const pool = new Pool({ connectionString: stack.databaseUrl, max: 2 });
  const count = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM event_log')).rows[0]!.n);
  const failures: string[] = [];
  try {
    const rowsBefore = await count();
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const statuses = new Map<string, number>();
    const tally = (kind: Kind, status: number | string) => statuses.set(`${kind} ${status}`, (statuses.get(`${kind} ${status}`) ?? 0) + 1);
    let expectedPostEvents = 0;
    let pixelAccepted = 0;
    let serverErrors = 0;
    let transportErrors = 0;
    let next = 0;
    const started = process.hrtime.bigint();
    const sender = async () => {
      while (next < planned.length && exited === undefined) {
        const { kind, request, events } = planned[next++]!;
        try {
          const answer = await send(port, agent, request);
          tally(kind, answer.status);
          if (answer.status >= 500) {
            serverErrors += 1;
            if (failures.length < 20) failures.push(`${answer.status} for ${request.method} ${request.path}: ${answer.body.toString().slice(0, 200)}`);
          }
          if (kind === 'pixel') {
            if (answer.status === 200) pixelAccepted += 1;
          } else if (answer.status === 200 && request.method === 'POST') {
            if (events === undefined) failures.push(`200 for a body that is not an event batch: ${request.method} ${request.path}`);
            else expectedPostEvents += events;
          }
        } catch (err) {
          // The server closing a connection on a refused request (431 before reading the body) is an
          // answer, not a crash; count it and go on.
          transportErrors += 1;
          tally(kind, (err as NodeJS.ErrnoException).code ?? 'error');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, sender));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    agent.destroy();
    // The log writer answers after its commit, so every stored row is visible by now.
    const stored = (await count()) - rowsBefore;
    const storedByPixels = stored - expectedPostEvents;
    say(`${planned.length} requests in ${seconds.toFixed(1)} s (${Math.round(planned.length / seconds)} req/s), ${CONCURRENCY} at a time`);
    const byKind = [...statuses.entries()].sort(([a], [b]) => a.localeCompare(b));
    for (const [key, n] of byKind) say(`  ${key}: ${n}`);
    say(`5xx: ${serverErrors}; connections closed without an answer: ${transportErrors}; gateway: ${exited ?? 'still running'}`);
    say(`stored: ${stored} events; from POSTs answered 200: ${expectedPostEvents}; pixels answered 200: ${pixelAccepted}`);
    if (exited) failures.push(exited);
    if (serverErrors > 0) failures.push(`${serverErrors} answers were 5xx`);
    if (storedByPixels < 0) failures.push(`the log holds ${-storedByPixels} events fewer than the POSTs answered 200 carried`);
    if (storedByPixels > pixelAccepted) failures.push(`the log holds ${storedByPixels - pixelAccepted} events no request answered 200 for`);
    const health = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status);
    if (health !== 200) failures.push(`/health answers ${health} after the run`);
    console.log(JSON.stringify({ requests: planned.length, seconds: Number(seconds.toFixed(1)), serverErrors, transportErrors, stored, expectedPostEvents, pixelAccepted, gatewayRunning: exited === undefined, failures }));
  } finally {
    await pool.end();
    await gateway.stop();
  }
  if (failures.length > 0) {
    for (const failure of failures) say(`FAIL ${failure}`);
    process.exitCode = 1;
  } else {
    say('PASS');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
