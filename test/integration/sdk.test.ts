/**
 * The real server-side SDKs, unchanged but for URL and write key, against the gateway: every event
 * reaches the destination once, and each user's events in the order the SDK was called.
 */
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { Receiver } from '../support/receiver';

const USERS = 5;
const ROUNDS = 6;
const PER_USER_PER_ROUND = 10;
const TOTAL = USERS * ROUNDS * PER_USER_PER_ROUND;

let receiver: Receiver;
let pipeline: TestPipeline;
const sourceId = uniqueId('src');
const writeKey = uniqueId('wk');

beforeAll(async () => {
  receiver = await Receiver.start();
  pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', `${receiver.url}/sdk`)]) });
});

afterAll(async () => {
  await pipeline?.close();
  await receiver?.close();
});

interface Delivered {
  readonly userId: string;
  readonly messageId: string;
  readonly event: string;
  readonly type: string;
  readonly properties: { readonly seq: number };
  readonly context?: { readonly library?: { readonly name?: string } };
}

/** Sends every event through `track`, a round at a time, calling `flush` after each round. */
async function sendRounds(users: string[], track: (userId: string, seq: number) => void, flush: () => Promise<void>): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_USER_PER_ROUND; i++) {
      for (const userId of users) track(userId, round * PER_USER_PER_ROUND + i);
    }
    await flush();
  }
}

async function expectEachOnceInOrder(users: string[]): Promise<Delivered[]> {
  const mine = () => receiver.deliveredBodies<Delivered>().filter((b) => users.includes(b.userId));
  await receiver.waitFor(() => mine().length >= TOTAL, 90_000, `${TOTAL} deliveries`);
  const delivered = mine();
  expect(delivered).toHaveLength(TOTAL);
  expect(new Set(delivered.map((d) => d.messageId)).size).toBe(TOTAL);
  const expected = Array.from({ length: ROUNDS * PER_USER_PER_ROUND }, (_, seq) => seq);
  for (const userId of users) {
    expect(delivered.filter((d) => d.userId === userId).map((d) => d.properties.seq)).toEqual(expected);
  }
  return delivered;
}

describe('real SDKs against the gateway', () => {
  it(`@rudderstack/rudder-sdk-node: ${TOTAL} events for ${USERS} users arrive once each, in order per user`, async () => {
    const users = Array.from({ length: USERS }, () => uniqueId('rudder-user'));
    const client = new RudderAnalytics(writeKey, {
      dataPlaneUrl: pipeline.gatewayUrl,
      // Only our flushes send: a round never exceeds flushAt and the timer never fires during the test.
      flushAt: 1_000,
      flushInterval: 600_000,
      logLevel: 'error',
    });
    // The SDK may have two batches in flight at once (see FACTS.md), so a user's events could reach the
    // gateway out of call order within a round. Awaiting flush between rounds makes each round's order
    // the call order, which is what the SDK itself promises.
    await sendRounds(
      users,
      (userId, seq) => client.track({ userId, event: 'SDK Event', properties: { seq } }),
      () => new Promise<void>((resolve, reject) => void client.flush((err?: Error) => (err ? reject(err) : resolve()))),
    );
    const delivered = await expectEachOnceInOrder(users);
    expect(delivered[0]!.context?.library?.name).toBe('analytics-node');
  });

  it(`@segment/analytics-node: ${TOTAL} events for ${USERS} users arrive once each, in order per user`, async () => {
    const users = Array.from({ length: USERS }, () => uniqueId('segment-user'));
    const failures: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey, host: pipeline.gatewayUrl, flushAt: USERS * PER_USER_PER_ROUND, flushInterval: 600_000 });
    analytics.on('error', (err) => failures.push(err));
    // Segment sends a batch as soon as it is full, without waiting for the one before; a round is
    // exactly one batch and flush() waits for it, so rounds cannot overtake each other.
    await sendRounds(
      users,
      (userId, seq) =>
        analytics.track({ userId, event: 'SDK Event', properties: { seq } }, (err) => {
          if (err) failures.push(err);
        }),
      () => analytics.flush(),
    );
    await analytics.closeAndFlush();
    expect(failures).toEqual([]);
    await expectEachOnceInOrder(users);
  });
});
