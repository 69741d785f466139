/**
 * The relay against a real PostgreSQL log written by real log writers, with Temporal's side recorded:
 * the relay's promise is about which rows it hands to signalWithStart, in which order, and how often.
 * (The signals reaching real workflows is covered by ingestLog.test.ts.)
 */
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { Client as PgClient, type Pool } from 'pg';
import { createPool } from '../../db/pool';
import type { FerryEvent } from '../../events/event';
import { comparePositions } from '../../log/position';
import { LOG_WRITER_APPLICATION, LogWriter } from '../../log/writer';
import { waitUntil } from '../../processes/wait';
import { Relay } from '../../relay/relay';
import type { LogSignalInput } from '../../workflows/definitions';
import type { PipelineArgs } from '../../workflows/pipeline';
import { dropSchema, migratedSchema, testInfra } from '../support/pipeline';

const BUCKETS = 8;

interface Signalled {
  readonly workflowId: string;
  readonly input: LogSignalInput;
}

/** Stands in for Temporal's client: records what the relay signals; can be made slow or failing. */
class RecordingClient {
  readonly signals: Signalled[] = [];
  failEvery = 0;
  /** Each signal takes a random time up to this. */
  delayMs = 0;
  /** Each signal takes this long. */
  fixedDelayMs = 0;
  /** Signals in flight now, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  private calls = 0;

  asClient(): Client {
    const workflow = {
      signalWithStart: async (_type: string, options: { workflowId: string; args: [PipelineArgs]; signalArgs: [LogSignalInput] }) => {
        this.calls += 1;
        this.inFlight += 1;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        try {
          if (this.delayMs > 0) await new Promise((r) => setTimeout(r, Math.random() * this.delayMs));
          if (this.fixedDelayMs > 0) await new Promise((r) => setTimeout(r, this.fixedDelayMs));
          if (this.failEvery > 0 && this.calls % this.failEvery === 0) throw new Error('UNAVAILABLE: injected');
          this.signals.push({ workflowId: options.workflowId, input: options.signalArgs[0] });
        } finally {
          this.inFlight -= 1;
        }
      },
    };
    return { workflow, withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() } as unknown as Client;
  }

  /** Each user's message ids in the order signalled, with repeats (at or before a position already signalled) dropped, as the workflow does. */
  applied(): { byUser: Map<string, string[]>; repeats: number } {
    const byUser = new Map<string, string[]>();
    const last = new Map<string, { xid: string; seq: number }>();
    let repeats = 0;
    for (const { workflowId, input } of this.signals) {
      const ids = byUser.get(workflowId) ?? [];
      byUser.set(workflowId, ids);
      for (const ref of input.refs) {
        const before = last.get(workflowId);
        if (before && comparePositions(ref, before) <= 0) {
          repeats += 1;
          continue;
        }
        last.set(workflowId, ref);
        ids.push(ref.messageId);
      }
    }
    return { byUser, repeats };
  }
}

describe('the relay', () => {
  let pool: Pool;
  let writerPool: Pool;
  let writer: LogWriter;
  let schema: string;
  const relays: Relay[] = [];

  beforeEach(async () => {
    ({ schema, pool } = await migratedSchema('relay', 8));
    writerPool = createPool(testInfra().databaseUrl, 4, { schema, applicationName: LOG_WRITER_APPLICATION });
    writer = new LogWriter({ pool: writerPool, buckets: BUCKETS, writers: 4, maxRows: 16, maxWaitMs: 1 });
  });

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await writerPool.end();
    await dropSchema({ schema, pool });
  });

  const startRelay = async (client: RecordingClient, id: string, batchRows = 7, leaseMs = 1_000, concurrency = 4) => {
    const url = new URL(testInfra().databaseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const relay = new Relay({
      pool,
      databaseUrl: url.toString(),
      client: client.asClient(),
      taskQueue: 'unused',
      buckets: BUCKETS,
      id,
      logger: pino({ level: 'silent' }),
      batchRows,
      concurrency,
      minBatchIntervalMs: 0,
      leaseMs,
    });
    relays.push(relay);
    await relay.start();
    return relay;
  };

  /** Users post their events one request at a time (each answered before the next), many users at once. */
  const post = async (users: number, perUser: number, runId: string) => {
    const sent = new Map<string, string[]>();
    await Promise.all(
      Array.from({ length: users }, async (_, u) => {
        const ids: string[] = [];
        for (let k = 0; k < perUser; k++) {
          const event = trackEvent(`${runId}-u${u}`, `${runId}-u${u}-${k}`);
          await writer.append('src', [{ event, destinationIds: ['hook'] }]);
          ids.push(event.messageId);
        }
        sent.set(`ferry/src/user:${runId}-u${u}`, ids);
      }),
    );
    return sent;
  };

  const expectAllInOrder = (client: RecordingClient, sent: Map<string, string[]>) => {
    const { byUser } = client.applied();
    const workflowIds = [...byUser.keys()].filter((id) => sent.has(id));
    expect(workflowIds.sort()).toEqual([...sent.keys()].sort());
    for (const [workflowId, ids] of sent) expect(byUser.get(workflowId)).toEqual(ids);
  };

  it('signals every row exactly once, in each user\'s order, across batches cut mid-bucket', async () => {
    const client = new RecordingClient();
    client.delayMs = 3;
    await startRelay(client, 'relay-a');
    const sent = await post(24, 30, 'once');
    await waitUntil(() => client.applied().byUser.size === 24 && [...client.applied().byUser.values()].every((ids) => ids.length === 30), { timeoutMs: 30_000, what: 'every row signalled' });
    expectAllInOrder(client, sent);
    // Nothing at all signalled twice.
    const all = client.signals.flatMap((s) => s.input.refs.map((r) => r.messageId));
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(24 * 30);
  });

  it('starts no workflow for events routed to no destination, and relays the rows after them', async () => {
    const client = new RecordingClient();
    await startRelay(client, 'relay-a');
    await writer.append('src', [
      { event: trackEvent('unrouted', 'unrouted-1'), destinationIds: [] },
      { event: trackEvent('unrouted', 'unrouted-2'), destinationIds: [] },
    ]);
    await writer.append('src', [
      { event: trackEvent('mixed', 'mixed-1'), destinationIds: [] },
      { event: trackEvent('mixed', 'mixed-2'), destinationIds: ['hook'] },
    ]);
    await writer.append('src', [{ event: trackEvent('unrouted', 'unrouted-3'), destinationIds: ['hook'] }]);
    await waitUntil(() => client.applied().byUser.size === 2, { timeoutMs: 10_000, what: 'the routed rows signalled' });
    const { byUser, repeats } = client.applied();
    expect(byUser.get('ferry/src/user:mixed')).toEqual(['mixed-2']);
    expect(byUser.get('ferry/src/user:unrouted')).toEqual(['unrouted-3']);
    expect(repeats).toBe(0);
    expect(client.signals.flatMap((s) => s.input.refs.map((r) => r.messageId))).toHaveLength(2);
  });

  it('gives users not signalled yet the rows logged while their batch is being signalled, and sends nothing twice', async () => {
    const client = new RecordingClient();
    // Temporal as the bottleneck: one signal at a time, each taking 150 ms, so ten users take 1.5 s.
    client.fixedDelayMs = 150;
    const users = Array.from({ length: 10 }, (_, u) => `ahead-u${u}`);
    for (const user of users) await writer.append('src', [{ event: trackEvent(user, `${user}-0`), destinationIds: ['hook'] }]);
    await startRelay(client, 'relay-a', 1_000, 1_000, 1);
    await waitUntil(() => client.signals.length >= 1, { timeoutMs: 10_000, what: 'the first signal' });
    // The first batch (one row per user) is being signalled; every user logs a second event meanwhile.
    for (const user of users) await writer.append('src', [{ event: trackEvent(user, `${user}-1`), destinationIds: ['hook'] }]);
    await waitUntil(() => users.every((u) => client.applied().byUser.get(`ferry/src/user:${u}`)?.length === 2), { timeoutMs: 20_000, what: 'both rows of every user' });
    for (const user of users) expect(client.applied().byUser.get(`ferry/src/user:${user}`)).toEqual([`${user}-0`, `${user}-1`]);
    // Each row signalled exactly once: what went ahead of the cursor was not sent again by the next batch.
    const refs = client.signals.flatMap((s) => s.input.refs.map((r) => r.messageId));
    expect(refs.sort()).toEqual(users.flatMap((u) => [`${u}-0`, `${u}-1`]).sort());
    // Without reading ahead every user gets two signals, one per batch: 20.
    expect(client.signals.some((s) => s.input.refs.length === 2)).toBe(true);
    expect(client.signals.length).toBeLessThan(20);
  });

  it('signals the users it finds by reading ahead side by side, though its batch began with one user', async () => {
    const client = new RecordingClient();
    client.fixedDelayMs = 400;
    await writer.append('src', [{ event: trackEvent('lone', 'lone-0'), destinationIds: ['hook'] }]);
    await startRelay(client, 'relay-a', 1_000, 1_000, 8);
    await waitUntil(() => client.inFlight === 1, { timeoutMs: 10_000, intervalMs: 5, what: "the lone user's signal" });
    // While the lone user's signal is in flight, sixteen more users log an event.
    const users = Array.from({ length: 16 }, (_, u) => `joined-u${u}`);
    await Promise.all(users.map((user) => writer.append('src', [{ event: trackEvent(user, `${user}-0`), destinationIds: ['hook'] }])));
    await waitUntil(() => users.every((u) => client.applied().byUser.get(`ferry/src/user:${u}`)?.length === 1), { timeoutMs: 20_000, what: 'every user signalled' });
    expect(client.maxInFlight).toBeGreaterThan(1);
    expect(client.signals).toHaveLength(17);
  });

  it('orders rows by transaction id as a number, not as text', async () => {
    const client = new RecordingClient();
    // Rows as three earlier transactions wrote them: as text, '10' < '11' < '9'.
    for (const [xid, n] of [[9, 1], [10, 2], [11, 3]] as const) {
      await pool.query(
        `INSERT INTO event_log (xid, source_id, user_key, bucket, message_id, received_at, type, destinations, event)
         VALUES ($1::text::xid8, 'src', 'user:digits', 0, $2, now(), 'track', '["hook"]', '{}')`,
        [String(xid), `digits-${n}`],
      );
    }
    await startRelay(client, 'relay-a');
    await waitUntil(() => client.applied().byUser.get('ferry/src/user:digits')?.length === 3, { timeoutMs: 10_000, what: 'the three rows signalled' });
    expect(client.applied().byUser.get('ferry/src/user:digits')).toEqual(['digits-1', 'digits-2', 'digits-3']);
    expect(client.applied().repeats).toBe(0);
  });

  it('never reads past an open writer, even while other writers hold ids above the snapshot\'s xmax', async () => {
    const client = new RecordingClient();
    // A long lease: the relay's own renewals would complete transactions and move xmax on.
    await startRelay(client, 'relay-a', 7, 60_000);
    const relay = relays[0]!;
    await waitUntil(() => relay.ownedBuckets().length === BUCKETS, { timeoutMs: 10_000, what: 'the relay owning every bucket' });
    const writers = [0, 1, 2, 3, 4].map(() => new PgClient({ connectionString: testInfra().databaseUrl, options: `-c search_path=${schema}`, application_name: LOG_WRITER_APPLICATION }));
    const log = (writer: PgClient, user: string, messageId: string) =>
      writer.query(
        `INSERT INTO event_log (source_id, user_key, bucket, message_id, received_at, type, destinations, event)
         VALUES ('src', $1, 0, $2, now(), 'track', '["hook"]', '{}')`,
        [user, messageId],
      );
    try {
      // Five writer transactions take ids in turn. The first logs a row and stays open; the third logs
      // one and commits. PostgreSQL puts a snapshot's xmax at the latest completed id + 1, the fourth's:
      // the fifth's id is above it.
      for (const writer of writers) {
        await writer.connect();
        await writer.query('BEGIN');
        await writer.query('SELECT pg_current_xact_id()');
      }
      await log(writers[0]!, 'user:slow', 'slow-1');
      await log(writers[2]!, 'user:quick', 'quick-1');
      await writers[2]!.query('COMMIT');
      // The quick row waits behind the open first writer: reading it would move the cursor past the
      // first writer's row, which would then never be read.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(client.applied().byUser.get('ferry/src/user:quick')).toBeUndefined();
      await writers[0]!.query('COMMIT');
      for (const writer of [writers[1]!, writers[3]!, writers[4]!]) await writer.query('COMMIT');
      await waitUntil(() => client.applied().byUser.size === 2, { timeoutMs: 10_000, what: 'both rows signalled' });
      expect(Object.fromEntries(client.applied().byUser)).toEqual({ 'ferry/src/user:slow': ['slow-1'], 'ferry/src/user:quick': ['quick-1'] });
    } finally {
      await Promise.all(writers.map((w) => w.end()));
    }
  });

  it('retries a signal Temporal refused, and keeps the user\'s order', async () => {
    const client = new RecordingClient();
    client.failEvery = 5;
    await startRelay(client, 'relay-a');
    const sent = await post(10, 15, 'retry');
    await waitUntil(() => [...client.applied().byUser.values()].reduce((n, ids) => n + ids.length, 0) === 150, { timeoutMs: 60_000, what: 'every row signalled' });
    expectAllInOrder(client, sent);
  });

  it('hands buckets over between relays without losing or reordering rows', async () => {
    const client = new RecordingClient();
    client.delayMs = 2;
    const first = await startRelay(client, 'relay-a');
    const writing = post(16, 40, 'handover');
    await new Promise((r) => setTimeout(r, 300));
    const second = await startRelay(client, 'relay-b');
    await waitUntil(() => first.ownedBuckets().length + second.ownedBuckets().length === BUCKETS && second.ownedBuckets().length > 0, { timeoutMs: 20_000, what: 'the buckets shared' });
    await first.stop();
    const sent = await writing;
    await waitUntil(() => [...client.applied().byUser.values()].reduce((n, ids) => n + ids.length, 0) === 16 * 40, { timeoutMs: 30_000, what: 'every row signalled' });
    // The stopped relay gave its buckets back; the other takes them all.
    await waitUntil(() => second.ownedBuckets().length === BUCKETS, { timeoutMs: 5_000, what: 'the second relay owning every bucket' });
    expectAllInOrder(client, sent);
  });
});

function trackEvent(userId: string, messageId: string): FerryEvent {
  const now = new Date().toISOString();
  return { type: 'track', userId, event: 'E', messageId, properties: {}, receivedAt: now, timestamp: now, rudderId: 'r' } as unknown as FerryEvent;
}
