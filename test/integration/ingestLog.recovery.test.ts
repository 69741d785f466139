/**
 * The ingest log's promises when parts of the stack fail, on a stack of separate processes as
 * `npm start` runs it (which restarts the dev server and PostgreSQL when they die): several gateways
 * and workers, a relay killed mid-batch, Temporal frozen and killed, PostgreSQL stopped.
 */
import { checkOrdering, startOrderedLoad } from '../../processes/orderedLoad';
import { waitUntil } from '../../processes/wait';
import { ContractStack } from '../support/processStack';
import { Receiver } from '../support/receiver';

const WRITE_KEY = 'recovery-key';
const run = Date.now().toString(36);

let hook: Receiver;
let stack: ContractStack;

beforeAll(async () => {
  hook = await Receiver.start();
  stack = await ContractStack.start({
    workspace: {
      sources: [
        {
          id: 'recovery',
          writeKey: WRITE_KEY,
          enabled: true,
          destinations: [{ id: 'hook', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: `${hook.url}/in` }, retry: { initialBackoffMs: 200, maxBackoffMs: 1_000 } }],
        },
      ],
    },
    env: {
      // A dead relay's buckets are taken over after this long.
      FERRY_RELAY_LEASE_MS: '3000',
      // Degraded mode after a few failures of Ferry's own: an outage of its database or of Temporal
      // must not count as one, or deliveries would stay stopped for a healthy period after it ended.
      FERRY_DEGRADE_SELF_FAILURES: '3',
      // ...and a degraded mode entered by mistake would outlast every wait below.
      FERRY_DEGRADE_HEALTHY_MS: '600000',
    },
  });
}, 15 * 60_000);

afterAll(async () => {
  await stack?.stop();
  await hook?.close();
});

/** Users sending numbered events one after the other through `urls`, alternating per event and per retry. */
function senders(prefix: string, users: number, urls: () => readonly string[]) {
  return startOrderedLoad({
    url: (_user, n, attempt) => {
      const targets = urls();
      return targets[(n + attempt) % targets.length]!;
    },
    writeKey: WRITE_KEY,
    prefix,
    users,
    pauseMs: 100,
  });
}

async function expectAllDelivered(prefix: string, sent: ReadonlyMap<string, number>, timeoutMs = 180_000): Promise<void> {
  const report = () => checkOrdering(prefix, sent, hook.deliveredBodies());
  await waitUntil(() => report().missing === 0, { timeoutMs, what: `every acknowledged ${prefix} event` }).catch(async (err: unknown) => {
    // Say how far behind and what the stack reports, so a failure in CI can be read without a rerun.
    const health = await fetch(`${stack.gatewayUrl}/health`).then((r) => r.text(), (e: unknown) => String(e));
    const got = new Set(hook.deliveredBodies().map((b) => String(b.messageId)));
    const missing = [...sent].flatMap(([user, n]) => Array.from({ length: n }, (_, i) => `${prefix}-${user.slice(prefix.length + 2)}-${i + 1}`)).filter((id) => !got.has(id));
    // Where they are: not in the log points at a false 200; in the log, at the relay (its cursor),
    // the workflow (its lanes) or the delivery step (outcomes, dead letters).
    const where = await stack.diagnose(missing.slice(0, 10)).catch((e: unknown) => String(e));
    throw new Error(`${(err as Error).message}; missing: ${missing.slice(0, 10).join(', ')}; where: ${JSON.stringify(where)}; /health: ${health}`, { cause: err });
  });
  const { violations, badUsers } = report();
  expect({ violations, badUsers }).toEqual({ violations: 0, badUsers: [] });
}

it('keeps each user’s order of acknowledgement across two gateway processes', async () => {
  const second = await stack.startGateway();
  const prefix = `gw-${run}`;
  // Each user alternates between the gateways, one request after the other.
  const load = senders(prefix, 20, () => [stack.gatewayUrl, second.url]);
  await new Promise((r) => setTimeout(r, 6_000));
  await load.stop();
  expect(load.refusals).toEqual([]);
  await expectAllDelivered(prefix, load.acknowledged);
}, 300_000);

it('hands a killed relay’s buckets to another worker: nothing lost, nothing processed twice', async () => {
  const survivor = await stack.startWorker();
  const victim = stack.workers[0]!;
  await waitUntil(async () => ((await (await fetch(`${stack.gatewayUrl}/health`)).json()) as { components: { relay: { relays: number } } }).components.relay.relays === 2, {
    timeoutMs: 20_000,
    what: 'both relays to share the buckets',
  });
  const prefix = `relay-${run}`;
  const load = senders(prefix, 30, () => [stack.gatewayUrl]);
  await hook.waitFor((r) => r.deliveredBodies().filter((b) => String(b.messageId).startsWith(prefix)).length >= 150, 60_000, 'deliveries before the kill');
  const open = hook.arrivals.length - hook.requests.length;
  // The survivor also logged a change of hands when it joined: only what it logs after the kill counts.
  const survivorLogBefore = survivor.output().length;
  await victim.kill();
  const killedAt = Date.now();
  // The survivor owns every bucket within a few seconds of the victim's lease running out.
  await waitUntil(async () => ((await (await fetch(`${stack.gatewayUrl}/health`)).json()) as { components: { relay: { ok: boolean } } }).components.relay.ok, {
    timeoutMs: 20_000,
    what: 'the surviving relay to own every bucket',
  });
  expect(Date.now() - killedAt).toBeLessThan(15_000);
  await new Promise((r) => setTimeout(r, 3_000));
  await load.stop();
  await expectAllDelivered(prefix, load.acknowledged);
  // Only requests in flight at the kill may arrive twice, and always under the same Idempotency-Key,
  // so a destination that honours it processes every event once.
  const mine = hook.arrivals.filter((a) => a.messageId?.startsWith(prefix));
  const duplicates = mine.length - new Set(mine.map((a) => a.messageId)).size;
  expect(duplicates).toBeLessThanOrEqual(open + 30);
  expect(hook.duplicatesWithNewKey).toBe(0);
  expect(survivor.output().slice(survivorLogBefore)).toContain('buckets changed hands');
}, 360_000);

it('keeps answering 200 while Temporal is frozen for 30 s, and drains in order after', async () => {
  const prefix = `frozen-${run}`;
  const load = senders(prefix, 20, () => [stack.gatewayUrl]);
  await new Promise((r) => setTimeout(r, 2_000));
  stack.signalTemporal('SIGSTOP');
  try {
    await new Promise((r) => setTimeout(r, 30_000));
  } finally {
    stack.signalTemporal('SIGCONT');
  }
  await load.stop();
  expect(load.statuses.filter((s) => s !== 200)).toEqual([]);
  expect(Math.min(...load.acknowledged.values())).toBeGreaterThan(20);
  await expectAllDelivered(prefix, load.acknowledged);
}, 300_000);

it('keeps answering 200 while Temporal is killed and restarted, and drains in order after', async () => {
  const prefix = `killed-${run}`;
  const load = senders(prefix, 20, () => [stack.gatewayUrl]);
  await new Promise((r) => setTimeout(r, 2_000));
  const before = stack.temporalPid();
  stack.signalTemporal('SIGKILL');
  // npm start's supervisor brings it back on the same SQLite file.
  await waitUntil(() => stack.temporalPid() !== before && stack.temporalPid(), { timeoutMs: 60_000, what: 'the dev server to be restarted' });
  await new Promise((r) => setTimeout(r, 3_000));
  await load.stop();
  expect(load.statuses.filter((s) => s !== 200)).toEqual([]);
  await expectAllDelivered(prefix, load.acknowledged);
}, 300_000);

it('answers 503 while PostgreSQL is down, never a false 200, and recovers by itself', async () => {
  const prefix = `pgdown-${run}`;
  const load = senders(prefix, 10, () => [stack.gatewayUrl]);
  const mine = () => hook.arrivals.filter((a) => a.messageId?.startsWith(prefix)).length;
  await new Promise((r) => setTimeout(r, 1_000));
  const aSecondBefore = mine();
  await new Promise((r) => setTimeout(r, 1_000));
  // Deliveries whose progress marks a crash can lose: those of the last second (marks are committed
  // asynchronously, flushed within 600 ms), and those in flight, one per user at most.
  const markable = mine() - aSecondBefore + 10;
  const before = stack.postgresPid()!;
  process.kill(before, 'SIGKILL');
  // npm start's supervisor restarts it on its data directory.
  await waitUntil(() => stack.postgresPid() !== before && stack.postgresPid(), { timeoutMs: 60_000, what: 'PostgreSQL to be restarted' });
  await new Promise((r) => setTimeout(r, 5_000));
  await load.stop();
  // While it was down the gateway refused (the senders retried those with the same messageIds)...
  expect(load.statuses.some((s) => s === 503)).toBe(true);
  expect(load.statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
  // ...and every event it acknowledged arrives, in order. Only deliveries whose marks the crash lost
  // may be sent again, and only under the same Idempotency-Key.
  await expectAllDelivered(prefix, load.acknowledged);
  const ids = hook.deliveredBodies().map((b) => String(b.messageId)).filter((id) => id.startsWith(prefix));
  expect(ids.length - new Set(ids).size).toBeLessThanOrEqual(markable);
  expect(hook.duplicatesWithNewKey).toBe(0);
}, 300_000);
