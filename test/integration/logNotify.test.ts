/**
 * How the log writers wake the relays: a notification on LOG_CHANNEL naming the buckets of newly
 * committed rows, sent after the commit, outside the writers' transactions, and coalesced under load.
 * In a database of its own, because NOTIFY reaches every listener of the database, and other test
 * files write their logs at the same time.
 */
import { Client as PgClient, type Pool } from 'pg';
import { createPool } from '../../db/pool';
import { migrate } from '../../db/migrate';
import type { FerryEvent } from '../../events/event';
import { bucketOf } from '../../log/buckets';
import { ensurePartitions } from '../../log/partitions';
import { LOG_CHANNEL, LOG_WRITER_APPLICATION, LogWriter } from '../../log/writer';
import { waitUntil } from '../../processes/wait';
import { userKeyOf } from '../../temporal/names';
import { testInfra, uniqueId } from '../support/pipeline';

const BUCKETS = 64;

describe("the log writers' notifications", () => {
  let database: string;
  let databaseUrl: string;
  let pool: Pool;
  let writerPool: Pool;
  let listener: PgClient;
  let notifications: string[];

  beforeAll(async () => {
    database = uniqueId('notify').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    const admin = createPool(testInfra().databaseUrl, 1);
    await admin.query(`CREATE DATABASE "${database}"`);
    await admin.end();
    const url = new URL(testInfra().databaseUrl);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
    pool = createPool(databaseUrl, 2);
    await migrate(pool);
    await ensurePartitions(pool, { from: new Date(Date.now() - 86_400_000), days: 3 });
    writerPool = createPool(databaseUrl, 6, { applicationName: LOG_WRITER_APPLICATION });
    listener = new PgClient({ connectionString: databaseUrl });
    await listener.connect();
    await listener.query(`LISTEN ${LOG_CHANNEL}`);
    listener.on('notification', (message) => notifications.push(message.payload ?? ''));
  });

  beforeEach(() => {
    notifications = [];
  });

  afterAll(async () => {
    await listener.end();
    await writerPool.end();
    await pool.end();
    const admin = createPool(testInfra().databaseUrl, 1);
    await admin.query(`DROP DATABASE "${database}" WITH (FORCE)`);
    await admin.end();
  });

  const announced = () => new Set(notifications.flatMap((payload) => payload.split(',').map(Number)));

  it('names the bucket of a committed row, and the row is visible when the notification arrives', async () => {
    const writer = new LogWriter({ pool: writerPool, buckets: BUCKETS });
    const event = trackEvent('visible-user', uniqueId('m'));
    let seenAtNotification: number | undefined;
    listener.once('notification', () => {
      void pool.query('SELECT count(*)::int AS n FROM event_log WHERE message_id = $1', [event.messageId]).then(({ rows }) => {
        seenAtNotification = rows[0]!.n as number;
      });
    });
    await writer.append('src', [{ event, destinationIds: ['hook'] }]);
    await waitUntil(() => seenAtNotification !== undefined, { timeoutMs: 10_000, what: 'a notification' });
    expect(seenAtNotification).toBe(1);
    expect([...announced()]).toEqual([bucketOf('src', userKeyOf(event), BUCKETS)]);
  });

  it('announces a burst of commits in fewer notifications, naming every bucket written', async () => {
    // One commit per request, so the burst is 400 commits by 4 writers.
    const writer = new LogWriter({ pool: writerPool, buckets: BUCKETS, writers: 4, maxRows: 1 });
    const events = Array.from({ length: 400 }, (_, i) => trackEvent(`burst-user-${i}`, uniqueId(`burst-${i}`)));
    const written = new Set(events.map((event) => bucketOf('src', userKeyOf(event), BUCKETS)));
    let next = 0;
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        while (next < events.length) await writer.append('src', [{ event: events[next++]!, destinationIds: ['hook'] }]);
      }),
    );
    await waitUntil(() => [...written].every((bucket) => announced().has(bucket)), { timeoutMs: 10_000, what: 'every written bucket to be announced' });
    expect([...announced()].filter((bucket) => !written.has(bucket))).toEqual([]);
    // A notification per commit would be 400: each one a transaction of its own, which signals every
    // listening backend.
    expect(notifications.length).toBeLessThan(events.length / 4);
  });
});

function trackEvent(userId: string, messageId: string): FerryEvent {
  const now = new Date().toISOString();
  return { type: 'track', event: 'Notified', userId, messageId, receivedAt: now, timestamp: now, properties: {} } as FerryEvent;
}
