/**
 * The gateway's side of the log: accepted events are appended by a few writers, each group-committing
 * the rows of many concurrent requests in one multi-row INSERT, and a request is answered only once
 * the transaction holding all of its events has committed. A request goes to the writer of its first
 * event's user, so every request keyed by one user is written by one writer, in arrival order.
 */
import type { Pool } from 'pg';
import { GroupCommit } from '../db/groupCommit';
import { migrate } from '../db/migrate';
import { FerryError } from '../errors/ferryError';
import type { LogWriteMetrics } from '../metrics/gateway';
import type { RoutedEvent } from '../events/event';
import { userKeyOf } from '../temporal/names';
import { bucketOf } from './buckets';
import { ensurePartitions } from './partitions';

/** The channel the writers name the buckets of newly committed rows on, just after the commit; relays LISTEN on it. */
export const LOG_CHANNEL = 'ferry_log';

/**
 * The application_name of the writers' connections. Relays read only below the lowest xid such a
 * connection holds, so the pool handed to LogWriter must use it (createPool's `applicationName`).
 */
export const LOG_WRITER_APPLICATION = 'ferry-log-writer';

export interface LogWriterOptions {
  /** Connections named LOG_WRITER_APPLICATION, one per writer at least. */
  readonly pool: Pool;
  /** Buckets users hash into; must equal the relays'. */
  readonly buckets: number;
  /** Writers committing in parallel. @default 4 */
  readonly writers?: number;
  /** Rows per transaction at most. @default 256 */
  readonly maxRows?: number;
  /** How long a row waits for others to share its transaction. @default 2 */
  readonly maxWaitMs?: number;
  /** A write not committed within this long is reported as failed (the caller answers 503). @default 5000 */
  readonly timeoutMs?: number;
  /** Where each commit's rows and duration are recorded. @default not recorded */
  readonly metrics?: LogWriteMetrics;
}

interface Row {
  readonly source_id: string;
  readonly user_key: string;
  readonly bucket: number;
  readonly message_id: string;
  readonly received_at: string;
  readonly type: string;
  readonly event_name?: string;
  readonly destinations: readonly string[];
  readonly event: unknown;
}

/** The log could not take the events: nothing of the request is stored, or it is not known to be. */
export class LogWriteError extends FerryError {}

const INSERT = `
  INSERT INTO event_log (source_id, user_key, bucket, message_id, received_at, type, event_name, destinations, event)
  SELECT source_id, user_key, bucket, message_id, received_at, type, event_name, destinations, event
    FROM ROWS FROM (json_to_recordset($1::json)
      AS (source_id text, user_key text, bucket smallint, message_id text, received_at timestamptz, type text, event_name text, destinations json, event json))
      WITH ORDINALITY AS r(source_id, user_key, bucket, message_id, received_at, type, event_name, destinations, event, n)
   ORDER BY n`;

/**
 * A notification of its own, committed without waiting for the disk: it only wakes the relays, and a
 * lost one costs them at most their one-second poll. (A NOTIFY inside the writers' transactions held
 * PostgreSQL's database-wide notify lock through each commit's disk flush, so the writers' commits
 * queued behind one another.)
 */
const NOTIFY = `SELECT set_config('synchronous_commit', 'off', true), pg_notify('${LOG_CHANNEL}', $1)`;

/** See CommitNotifier. */
const NOTIFY_GAP_MS = 10;

/** SQLSTATEs for "no partition of relation … found for row", and for a log not created yet. */
const NO_PARTITION = '23514';
const NO_TABLE = '42P01';

export class LogWriter {
  private readonly writers: Array<GroupCommit<Row>>;
  private readonly timeoutMs: number;
  private readonly notifier: CommitNotifier;

  constructor(private readonly options: LogWriterOptions) {
    const count = options.writers ?? 4;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.notifier = new CommitNotifier(options.pool);
    this.writers = Array.from({ length: count }, () => new GroupCommit<Row>((rows) => this.insert(rows), { maxRows: options.maxRows ?? 256, maxWaitMs: options.maxWaitMs ?? 2 }));
  }

  /** Resolves once every event is committed to the log; rejects with LogWriteError otherwise. */
  async append(sourceId: string, routed: readonly RoutedEvent[]): Promise<void> {
    if (routed.length === 0) return;
    const rows = routed.map(({ event, destinationIds }): Row => {
      const userKey = userKeyOf(event);
      return {
        source_id: sourceId,
        user_key: userKey,
        bucket: bucketOf(sourceId, userKey, this.options.buckets),
        message_id: event.messageId,
        received_at: event.receivedAt,
        type: event.type,
        // A track's name, shown as the head of a stuck lane; cut so a huge name cannot bloat history.
        event_name: event.type === 'track' && event.event !== undefined ? event.event.slice(0, 100) : undefined,
        destinations: destinationIds,
        event,
      };
    });
    const writer = this.writers[rows[0]!.bucket % this.writers.length]!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        writer.add(rows),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LogWriteError(`the log did not commit within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } catch (err) {
      throw err instanceof LogWriteError ? err : new LogWriteError(`the log could not be written: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Rows waiting for a writer, for metrics. */
  get backlog(): number {
    return this.writers.reduce((n, w) => n + w.backlog, 0);
  }

  private async insert(rows: readonly Row[]): Promise<void> {
    const metrics = this.options.metrics;
    if (!metrics) return this.write(rows);
    metrics.batchRows.observe(rows.length);
    const done = metrics.commitSeconds.startTimer();
    try {
      await this.write(rows);
      done({ outcome: 'ok' });
    } catch (err) {
      done({ outcome: 'error' });
      throw err;
    }
  }

  private async write(rows: readonly Row[]): Promise<void> {
    const json = JSON.stringify(rows);
    try {
      await this.options.pool.query(INSERT, [json]);
    } catch (err) {
      // The day's partition is created ahead of time; a clock past the last one creates it now.
      const code = (err as { code?: string }).code;
      if (code !== NO_PARTITION && code !== NO_TABLE) throw err;
      if (code === NO_TABLE) await migrate(this.options.pool);
      await ensurePartitions(this.options.pool, { from: new Date(Date.now() - 86_400_000), days: 3 });
      await this.options.pool.query(INSERT, [json]);
    }
    this.notifier.committed(rows);
  }
}

/**
 * Tells the relays which buckets have new rows, on LOG_CHANNEL, once those rows are committed. The
 * first commit after a quiet spell is announced at once; after that, one notification goes out at
 * most every NOTIFY_GAP_MS, naming every bucket committed since the last. A relay starts a batch at
 * most every 50 ms, so more notifications would wake it no sooner, and each one is a transaction
 * that every listening backend is signalled for.
 */
class CommitNotifier {
  private readonly pending = new Set<number>();
  private scheduled = false;
  private lastSentAt = 0;

  constructor(private readonly pool: Pool) {}

  committed(rows: readonly Row[]): void {
    for (const row of rows) this.pending.add(row.bucket);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.pending.size === 0) return;
    this.scheduled = true;
    const wait = this.lastSentAt + NOTIFY_GAP_MS - Date.now();
    if (wait > 0) setTimeout(() => void this.send(), wait);
    else void this.send();
  }

  private async send(): Promise<void> {
    const buckets = [...this.pending].join(',');
    this.pending.clear();
    try {
      await this.pool.query(NOTIFY, [buckets]);
    } catch {
      // PostgreSQL is unreachable (the writers then fail too) or the pool was closed: the relays
      // find the rows with their one-second poll.
    } finally {
      this.lastSentAt = Date.now();
      this.scheduled = false;
    }
    this.schedule();
  }
}
