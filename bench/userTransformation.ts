/**
 * Per-event cost of a trivial user transformation in the transform activity: the same batches of
 * track events through createTransform with a webhook destination, without a transformation, with
 * `transformEvent` returning the event (one isolate call per event) and with `transformBatch`
 * returning the events (one call per batch).
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/userTransformation.js [events] [batchSize]
 */
import { createTransform } from '../activities/transform';
import { UserTransformationSandboxes } from '../transformations/pool';
import { parseWorkspace } from '../config/workspace';
import { TransformationLoader } from '../transformations/loader';
import type { FerryEvent } from '../events/event';

const EVENTS = Number(process.argv[2] ?? 20_000);
const BATCH = Number(process.argv[3] ?? 20);

const CASES = {
  none: undefined,
  transformEvent: 'export function transformEvent(event, metadata) { return event; }',
  transformBatch: 'export function transformBatch(events, metadata) { return events; }',
} as const;

function destination(id: string, code: string | undefined): unknown {
  return {
    id,
    enabled: true,
    destinationDefinition: { name: 'WEBHOOK' },
    config: { webhookUrl: 'http://127.0.0.1:9/in' },
    ...(code === undefined ? {} : { transformations: [{ versionId: `${id}-v1`, config: { code } }] }),
  };
}

function event(i: number): FerryEvent {
  return {
    type: 'track',
    messageId: `m-${i}`,
    userId: `user-${i % 50}`,
    rudderId: '0b4c6f2e-5e0b-4cf5-9c57-3a1d1f7d2b11',
    receivedAt: '2024-05-01T10:00:00.000Z',
    timestamp: '2024-05-01T10:00:00.000Z',
    event: 'Order Completed',
    properties: { orderId: `o-${i}`, revenue: 42.5, currency: 'EUR', products: [{ sku: 'A-1', quantity: 2 }] },
    context: { library: { name: 'rudder-sdk-node', version: '3.0.13' }, ip: '203.0.113.7' },
  };
}

async function main(): Promise<void> {
  const ids = Object.keys(CASES) as Array<keyof typeof CASES>;
  const workspace = parseWorkspace({ sources: [{ id: 'src', writeKey: 'wk', enabled: true, destinations: ids.map((id) => destination(id, CASES[id])) }] }, 'bench', {
    compiler: (baseDir) => new TransformationLoader(baseDir),
  });
  const sandboxes = new UserTransformationSandboxes();
  const transform = createTransform({ workspace, sandboxes });
  const batches: FerryEvent[][] = [];
  for (let i = 0; i < EVENTS; i += BATCH) batches.push(Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, j) => event(i + j)));

  const measure = async (id: string, list: FerryEvent[][]): Promise<number> => {
    const started = process.hrtime.bigint();
    for (const events of list) {
      const outcomes = await transform({ sourceId: 'src', destinationId: id, events });
      if (outcomes.length !== events.length || outcomes.some((o) => o.outcome !== 'ok')) throw new Error(`${id}: unexpected outcomes`);
    }
    return Number(process.hrtime.bigint() - started) / 1e3;
  };

  console.log(`${EVENTS} track events in batches of ${BATCH}, node ${process.version}`);
  const results: Record<string, number> = {};
  for (const id of ids) {
    // Warm-up starts the isolate and lets V8 optimise both sides.
    await measure(id, batches.slice(0, Math.ceil(batches.length / 10)));
    const micros = await measure(id, batches);
    results[id] = micros / EVENTS;
  }
  const base = results.none!;
  for (const id of ids) {
    const perEvent = results[id]!;
    const overhead = id === 'none' ? '' : `  (+${(perEvent - base).toFixed(1)} µs/event over none)`;
    console.log(`${id.padEnd(15)} ${Math.round(1e6 / perEvent).toString().padStart(8)} events/s  ${perEvent.toFixed(1).padStart(7)} µs/event${overhead}`);
  }
  sandboxes.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
