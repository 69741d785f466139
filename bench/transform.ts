/**
 * Transform throughput per destination: the same generated events (a mix of every message type, with
 * browser-like context) through each destination's pure transform, as the transform activity runs it
 * (message-type check, event filter, transform, TransformError → aborted), and through the activity
 * itself in the workflow's batches. Nothing is sent anywhere.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/transform.js [events] [rounds] [batchSize]
 */
import { TransformError, type DestinationDefinition } from '../destinations/definition';
import { eventFilterReason } from '../destinations/fields/eventFilter';
import { destinationDefinition } from '../destinations/registry';
import { createTransform } from '../activities/transform';
import { parseWorkspace } from '../config/workspace';
import type { EventType, FerryEvent } from '../events/event';

const EVENTS = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const BATCH = Number(process.argv[4] ?? 20);
const NOWHERE = 'http://127.0.0.1:9';

/** Each row: a destination and the config it is measured with. */
const CASES: ReadonlyArray<{ readonly label: string; readonly name: string; readonly config: Record<string, unknown> }> = [
  { label: 'WEBHOOK', name: 'WEBHOOK', config: { webhookUrl: `${NOWHERE}/in` } },
  { label: 'AMPLITUDE', name: 'AMPLITUDE', config: { apiKey: 'k', endpoint: `${NOWHERE}/2/httpapi`, usermapEndpoint: `${NOWHERE}/usermap` } },
  {
    label: 'AMPLITUDE + deny list',
    name: 'AMPLITUDE',
    config: {
      apiKey: 'k',
      endpoint: `${NOWHERE}/2/httpapi`,
      eventFilteringOption: 'blacklistedEvents',
      blacklistedEvents: ['Heartbeat', 'Scrolled', 'Hovered', 'Ping', 'Debug'].map((eventName) => ({ eventName })),
    },
  },
  { label: 'MIXPANEL', name: 'MIXPANEL', config: { token: 't', apiSecret: 's', baseUrl: NOWHERE } },
  { label: 'GA4', name: 'GA4', config: { apiSecret: 's', measurementId: 'G-BENCH1', baseUrl: NOWHERE } },
];

/** Message types in the proportions a web property sends them. */
const TYPE_MIX: ReadonlyArray<readonly [EventType, number]> = [
  ['track', 50],
  ['page', 25],
  ['identify', 10],
  ['screen', 5],
  ['group', 5],
  ['alias', 5],
];
const TRACK_NAMES = ['Signed Up', 'Product Viewed', 'Product Added', 'Order Completed', 'Heartbeat', 'Video Played', 'Search Performed'];

/** Deterministic, so every run and every destination sees the same events. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function generate(count: number): FerryEvent[] {
  const random = generator(42);
  const total = TYPE_MIX.reduce((sum, [, weight]) => sum + weight, 0);
  const pickType = (): EventType => {
    let r = random() * total;
    for (const [type, weight] of TYPE_MIX) if ((r -= weight) < 0) return type;
    return 'track';
  };
  return Array.from({ length: count }, (_, i): FerryEvent => {
    const type = pickType();
    const user = Math.floor(random() * 5_000);
    const base = {
      type,
      messageId: `3f6c2a1e-${String(i).padStart(4, '0').slice(-4)}-4a7b-9c1d-${String(i).padStart(12, '0')}`,
      userId: random() < 0.7 ? `user-${user}` : undefined,
      anonymousId: `anon-${user}`,
      rudderId: '0b4c6f2e-5e0b-5cf5-9c57-3a1d1f7d2b11',
      receivedAt: '2024-05-01T10:00:01.000Z',
      timestamp: new Date(Date.UTC(2024, 4, 1, 10) + i * 1_000).toISOString(),
      request_ip: '203.0.113.7',
      channel: 'web',
      context: {
        library: { name: 'RudderLabs JavaScript SDK', version: '3.34.1' },
        page: { url: 'https://shop.example/products/mug', title: 'Mug', referrer: 'https://search.example/?q=mug', path: '/products/mug' },
        userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
        locale: 'en-GB',
        screen: { width: 1440, height: 900, density: 2 },
        os: { name: 'Mac OS', version: '14.4' },
        campaign: { source: 'newsletter', medium: 'email', name: 'spring' },
        traits: { plan: 'pro', email: `user-${user}@example.com`, seats: 3 },
        sessionId: 1714557000000,
      },
    };
    switch (type) {
      case 'track': {
        const event = TRACK_NAMES[Math.floor(random() * TRACK_NAMES.length)]!;
        const properties: Record<string, unknown> = { plan: 'pro', value: Math.round(random() * 10_000) / 100, currency: 'EUR', product_id: `sku-${i % 97}`, name: 'Mug' };
        if (event === 'Order Completed') properties.products = [{ product_id: 'sku-1', name: 'Mug', price: 12, quantity: 2 }, { sku: 'sku-2', name: 'Tea', price: 4 }];
        return { ...base, event, properties };
      }
      case 'page':
        return { ...base, name: 'Product', properties: { url: 'https://shop.example/products/mug', title: 'Mug', path: '/products/mug', category: 'Shop' } };
      case 'screen':
        return { ...base, name: 'Home', properties: { tab: 'featured' } };
      case 'identify':
        return { ...base, traits: { email: `user-${user}@example.com`, firstName: 'Ada', plan: 'pro', createdAt: '2024-01-02T00:00:00.000Z' } };
      case 'group':
        return { ...base, groupId: `org-${user % 300}`, traits: { name: 'Acme', employees: 120, industry: 'retail' } };
      case 'alias':
        return { ...base, userId: `user-${user}`, previousId: `anon-${user}` };
    }
  });
}

interface Tally {
  ok: number;
  filtered: number;
  aborted: number;
  requests: number;
}

/** What the transform activity does per event, without the activity's batching around it. */
function runPure(definition: DestinationDefinition<unknown>, config: unknown, events: readonly FerryEvent[], tally?: Tally): void {
  const context = { destinationId: 'bench' };
  for (const event of events) {
    if (!definition.supportedMessageTypes.includes(event.type) || eventFilterReason(event, config)) {
      if (tally) tally.filtered += 1;
      continue;
    }
    try {
      const requests = definition.transform(event, config, context);
      if (tally) {
        tally.ok += 1;
        tally.requests += requests.length;
      }
    } catch (err) {
      if (!(err instanceof TransformError)) throw err;
      if (tally) tally.aborted += 1;
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const events = generate(EVENTS);
  const workspace = parseWorkspace(
    {
      sources: [
        {
          id: 'src',
          writeKey: 'wk',
          enabled: true,
          destinations: CASES.map((c, i) => ({ id: `d${i}`, enabled: true, destinationDefinition: { name: c.name }, config: c.config })),
        },
      ],
    },
    'bench',
  );
  const transform = createTransform({ workspace });
  const batches: FerryEvent[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));

  const rows: string[][] = [];
  for (const [i, c] of CASES.entries()) {
    const definition = destinationDefinition(c.name)!;
    const config = workspace.destination('src', `d${i}`)!.config;
    const tally: Tally = { ok: 0, filtered: 0, aborted: 0, requests: 0 };
    runPure(definition, config, events, tally); // warm-up, and the outcome counts
    const pure: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = process.hrtime.bigint();
      runPure(definition, config, events);
      pure.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const activity: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = process.hrtime.bigint();
      for (const batch of batches) await transform({ sourceId: 'src', destinationId: `d${i}`, events: batch });
      activity.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const pureMs = median(pure);
    const activityMs = median(activity);
    rows.push([
      c.label,
      String(tally.ok),
      String(tally.filtered),
      String(tally.aborted),
      String(tally.requests),
      pureMs.toFixed(0),
      Math.round((events.length / pureMs) * 1000).toLocaleString('en-US'),
      Math.round((events.length / activityMs) * 1000).toLocaleString('en-US'),
    ]);
  }

  const header = ['destination', 'ok', 'filtered', 'aborted', 'requests', 'pure ms', 'pure events/s', `activity events/s (batch ${BATCH})`];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col]!.length)));
  const line = (cells: string[]) => cells.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ');
  console.log(`${EVENTS.toLocaleString('en-US')} events, median of ${ROUNDS} rounds, node ${process.version}`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
