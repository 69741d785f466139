/**
 * The relay: forwards the log to the users' workflows. It owns a share of the buckets (see leases.ts),
 * wakes on the log's NOTIFY, reads its buckets' new rows in log order, and signals each user's
 * workflow once with all of that user's new rows (signalWithStart). A batch's cursors move only after
 * Temporal accepted every signal of the batch, and the next batch starts only then, so each user's
 * rows reach its workflow in order. While Temporal is slow the rows pile up in the log, and each
 * signal carries more of them: throughput rises with load instead of collapsing. A batch that takes
 * long to signal also reads the rows committed meanwhile for the users it has not signalled yet.
 */
import type { Client } from '@temporalio/client';
import { Client as PgClient, type Pool } from 'pg';
import type { Logger } from 'pino';
import { comparePositions, type LogPosition } from '../log/position';
import { LOG_CHANNEL, LOG_WRITER_APPLICATION } from '../log/writer';
import type { RelayMetrics } from '../metrics/worker';
import { pipelineWorkflowId, searchAttributes } from '../temporal/names';
import { logSignal, PIPELINE_WORKFLOW_TYPE, type LogRef, type LogSignalInput } from '../workflows/definitions';
import type { PipelineArgs } from '../workflows/pipeline';
import type { PipelineSettings } from '../workflows/settings';
import { BucketLeases } from './leases';

export interface RelayOptions {
  readonly pool: Pool;
  /** Where LISTEN connects; the pool's connection string. */
  readonly databaseUrl: string;
  readonly client: Client;
  readonly taskQueue: string;
  /** FERRY_LOG_BUCKETS. */
  readonly buckets: number;
  /** This relay's identity, unique among running relays. */
  readonly id: string;
  readonly logger: Logger;
  /**
   * Rows read per batch at most. Under a backlog, each user with rows in a batch gets one signal for
   * all of them: a batch cut short splits users' rows into more signals and more workflow tasks. A row
   * costs the batch a few hundred bytes (references, never the event).
   * @default 50000
   */
  readonly batchRows?: number;
  /** Signals in flight at once. @default 64 */
  readonly concurrency?: number;
  /**
   * Shortest time between the starts of two batches, which bounds the signals one workflow gets per
   * second (a workflow busy in a long task buffers them, and Temporal fails a task over 100 buffered).
   * @default 50
   */
  readonly minBatchIntervalMs?: number;
  /** Refs per signal at most; a user with more new rows gets several signals, in order. @default 2000 */
  readonly maxRefsPerSignal?: number;
  /** Lease length: how soon another relay takes over the buckets of one that died. @default 5000 */
  readonly leaseMs?: number;
  /** Whether to forward at all; false in degraded mode, when rows are stored but not forwarded. @default always */
  readonly forwarding?: () => boolean;
  /** Where the lag and each signal's size are recorded. @default not recorded */
  readonly metrics?: RelayMetrics;
  /**
   * The pipeline settings of this worker process, handed to each run the relay starts so that its
   * first workflow task need not ask for them. @default none: each run asks its worker
   */
  readonly pipelineSettings?: PipelineSettings;
}

/**
 * The xid below which every log row is committed or never will be: the snapshot's xmax, or the lowest
 * xid a log writer holds now if that is lower. PostgreSQL puts xmax at the latest completed xid + 1,
 * so a running writer's xid may be above it as well as below. pg_stat_activity gives 32-bit xids: each
 * is placed within 2^31 of xmax (running xids are never further apart), in xmax's epoch or a
 * neighbouring one.
 */
export function logReadBound(xmax: bigint, writerXids: readonly string[]): bigint {
  let bound = xmax;
  for (const writer of writerXids) {
    const ahead = (BigInt(writer) - (xmax & 0xffffffffn) + 0x80000000n + 0x100000000n) % 0x100000000n - 0x80000000n;
    if (xmax + ahead < bound) bound = xmax + ahead;
  }
  return bound;
}

export interface RelayLag {
  /** Rows in this relay's buckets not yet relayed (counted up to a cap). */
  readonly rows: number;
  /** When the oldest of them was logged. */
  readonly oldestAt?: Date;
  readonly buckets: number;
}

interface Row {
  readonly bucket: number;
  readonly xid: string;
  readonly seq: number;
  readonly source_id: string;
  readonly user_key: string;
  readonly message_id: string;
  readonly destinations: readonly string[];
  readonly logged_at: Date;
  readonly type: string;
  readonly event_name: string | null;
}

const LAG_COUNT_CAP = 1_000_000;
const SIGNAL_TIMEOUT_MS = 30_000;
/** How often a batch still signalling reads the rows committed since it began (see signalAll). */
const READ_AHEAD_MS = 200;
/** How long into a batch it may still read ahead. */
const READ_AHEAD_FOR_MS = 10_000;

export class Relay {
  private readonly leases: BucketLeases;
  private listener?: PgClient;
  private running = false;
  private wake: () => void = () => undefined;
  private woken = false;
  private loop?: Promise<void>;
  private renewTimer?: NodeJS.Timeout;
  private lagTimer?: NodeJS.Timeout;
  private lastLag: RelayLag = { rows: 0, buckets: 0 };
  private readonly batchRows: number;
  private readonly concurrency: number;
  private readonly minBatchIntervalMs: number;
  private readonly maxRefsPerSignal: number;
  private stopping?: Promise<void>;
  /** Per user, the newest row signalled beyond the cursors (read ahead); the next batch skips up to it. */
  private readonly sentAhead = new Map<string, { readonly bucket: number; readonly position: LogPosition }>();

  constructor(private readonly options: RelayOptions) {
    this.leases = new BucketLeases({ pool: options.pool, id: options.id, buckets: options.buckets, leaseMs: options.leaseMs });
    this.batchRows = options.batchRows ?? 50_000;
    this.concurrency = options.concurrency ?? 64;
    this.minBatchIntervalMs = options.minBatchIntervalMs ?? 50;
    this.maxRefsPerSignal = options.maxRefsPerSignal ?? 2_000;
  }

  async start(): Promise<void> {
    await this.leases.ensureBuckets();
    // Known to the others (and to /health) before it claims its first buckets.
    await this.leases.renew();
    this.running = true;
    await this.listen();
    const leaseMs = this.options.leaseMs ?? 5_000;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(200, Math.floor(leaseMs / 5)));
    this.lagTimer = setInterval(() => void this.measureLag(), 5_000);
    this.loop = this.run();
  }

  /** Finishes the batch in flight, then gives the buckets back so another relay takes over at once. */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.running = false;
    clearInterval(this.renewTimer);
    clearInterval(this.lagTimer);
    this.wake();
    await this.loop;
    await this.leases.releaseAll().catch((err: unknown) => this.options.logger.warn({ err }, 'relay: could not release its buckets; they free up when the leases run out'));
    await this.listener?.end().catch(() => undefined);
  }

  /** The buckets this relay owns now. */
  ownedBuckets(): number[] {
    return [...this.leases.owned.keys()].sort((a, b) => a - b);
  }

  lag(): RelayLag {
    return this.lastLag;
  }

  private async run(): Promise<void> {
    let lastBatch = 0;
    let more = true;
    let lastRebalance = 0;
    while (this.running) {
      if (Date.now() - lastRebalance >= 1_000 || this.leases.owned.size === 0) {
        lastRebalance = Date.now();
        await this.rebalance();
      }
      if (!more || !(this.options.forwarding?.() ?? true) || this.leases.owned.size === 0) {
        // Wake on a commit, or look again within a second (a lost notification, new buckets, a mode change).
        await this.sleep(1_000);
        more = true;
        continue;
      }
      const wait = lastBatch + this.minBatchIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      lastBatch = Date.now();
      this.woken = false;
      try {
        more = await this.relayBatch();
      } catch (err) {
        this.options.logger.warn({ err }, 'relay: batch failed; trying again');
        await this.sleep(1_000);
      }
      if (!more && this.woken) more = true;
    }
  }

  /** One batch: read, signal every user, move the cursors. True when there may be more to read right away. */
  private async relayBatch(): Promise<boolean> {
    const owned = [...this.leases.owned.values()];
    const start = owned.reduce((min, b) => (comparePositions(b.cursor, min) < 0 ? b.cursor : min), owned[0]!.cursor);
    const rows = await this.readAfter(owned, start);
    if (rows.length === 0) return false;
    const last = rows.at(-1)!;
    const users = new Map<string, Row[]>();
    this.collect(users, rows, () => true);
    await this.signalAll(users, owned, last, this.batchRows - rows.length);
    // The batch holds every row of the owned buckets up to its last one (all committed: their
    // transactions ended before the read's snapshot), so every owned bucket is relayed up to there,
    // including buckets that had no rows in it. Rows read ahead stay after the cursor: not every user got them.
    const advanced = new Map<number, LogPosition>();
    for (const bucket of owned) if (comparePositions(bucket.cursor, last) < 0) advanced.set(bucket.bucket, { xid: last.xid, seq: last.seq });
    const lost = await this.leases.advance(advanced);
    if (lost.length > 0) this.options.logger.warn({ buckets: lost }, 'relay: buckets were taken over by another relay');
    for (const [key, ahead] of this.sentAhead) {
      const bucket = this.leases.owned.get(ahead.bucket);
      if (!bucket || comparePositions(ahead.position, bucket.cursor) <= 0) this.sentAhead.delete(key);
    }
    return rows.length === this.batchRows;
  }

  /**
   * Committed rows of these buckets after `after`, in log order. Two statements, in this order: a writer
   * that commits between them is seen by the second statement's snapshot, and one still running when
   * the first looks holds the bound below its xid, so no row is read before an earlier one of its user.
   */
  private async readAfter(owned: ReadonlyArray<{ readonly bucket: number }>, after: LogPosition, limit = this.batchRows): Promise<Row[]> {
    const bound = await this.readBound();
    // ORDER BY names the table's columns: a bare `xid` would mean the text alias, and sort '1179' before '747'.
    const { rows } = await this.options.pool.query<Row>(
      `SELECT bucket, xid::text AS xid, seq::float8 AS seq, source_id, user_key, message_id, destinations, logged_at,
              type, event_name
         FROM event_log
        WHERE bucket = ANY($1::smallint[])
          AND (xid, seq) > ($2::xid8, $3::bigint)
          AND xid < $5::xid8
        ORDER BY event_log.xid, event_log.seq
        LIMIT $4`,
      [owned.map((b) => b.bucket), after.xid, after.seq, limit, bound],
    );
    return rows;
  }

  /** Adds the rows still to be signalled to their users' lists, for the users `takes` accepts; returns the users new to `users`. */
  private collect(users: Map<string, Row[]>, rows: readonly Row[], takes: (key: string) => boolean): string[] {
    const added: string[] = [];
    for (const row of rows) {
      const bucket = this.leases.owned.get(row.bucket);
      // Rows of a bucket whose cursor is further on: read because another bucket is behind.
      if (!bucket || comparePositions(row, bucket.cursor) <= 0) continue;
      // Routed to no destination (its source had none enabled when it was logged): nothing to
      // deliver, so no signal and no workflow. The cursor still moves past it with the batch.
      if (row.destinations.length === 0) continue;
      const key = `${row.source_id}\0${row.user_key}`;
      const ahead = this.sentAhead.get(key);
      if (ahead && comparePositions(row, ahead.position) <= 0) continue;
      if (!takes(key)) continue;
      const list = users.get(key);
      if (list) list.push(row);
      else {
        users.set(key, [row]);
        added.push(key);
      }
    }
    return added;
  }

  /** See logReadBound. Only this database's writers count: another database's rows are not in this log. */
  private async readBound(): Promise<string> {
    const { rows } = await this.options.pool.query<{ xmax: string; writers: string[] | null }>(
      `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
              (SELECT array_agg(backend_xid::text) FROM pg_stat_activity
                WHERE application_name = $1 AND backend_xid IS NOT NULL AND datname = current_database()) AS writers`,
      [LOG_WRITER_APPLICATION],
    );
    return logReadBound(BigInt(rows[0]!.xmax), rows[0]!.writers ?? []).toString();
  }

  /**
   * Signals every user; resolves once Temporal accepted all of them (or the relay stops). While a batch
   * takes long to signal (Temporal is the bottleneck), the log keeps growing: every READ_AHEAD_MS the
   * rows committed since are read and added to the users not signalled yet (and new users join), so
   * that each gets its newer rows in this signal rather than in one more signal in the next batch. What
   * a user got beyond `last` is remembered, and the next batch skips it. Reading ahead stops after
   * READ_AHEAD_FOR_MS or `rowsAhead` rows, so that a batch ends and the cursors move under steady load.
   */
  private async signalAll(users: Map<string, Row[]>, owned: ReadonlyArray<{ readonly bucket: number }>, last: LogPosition, rowsAhead: number): Promise<void> {
    const order = [...users.keys()];
    const started = new Set<string>();
    let highWater: LogPosition = last;
    const startedAt = Date.now();
    let lastReadAt = startedAt;
    let reading = false;
    const readAhead = async (): Promise<void> => {
      if (reading || rowsAhead <= 0 || Date.now() - lastReadAt < READ_AHEAD_MS || Date.now() - startedAt > READ_AHEAD_FOR_MS) return;
      if (!this.running || !(this.options.forwarding?.() ?? true)) return;
      reading = true;
      try {
        const rows = await this.readAfter(owned, highWater, rowsAhead);
        lastReadAt = Date.now();
        if (rows.length === 0) return;
        rowsAhead -= rows.length;
        highWater = rows.at(-1)!;
        // Users first seen here join the end of the batch.
        order.push(...this.collect(users, rows, (key) => !started.has(key)));
      } catch (err) {
        // Only an optimisation: the next batch reads these rows anyway.
        lastReadAt = Date.now();
        this.options.logger.debug({ err }, 'relay: reading ahead failed');
      } finally {
        reading = false;
      }
    };
    let next = 0;
    let failure: { readonly err: unknown } | undefined;
    const workers = new Set<Promise<void>>();
    // Up to `concurrency` signallers, one per waiting user: more join when reading ahead finds new users.
    const topUp = () => {
      while (workers.size < this.concurrency && workers.size < order.length - next) {
        const running: Promise<void> = signaller()
          .catch((err: unknown) => {
            failure ??= { err };
          })
          .finally(() => workers.delete(running));
        workers.add(running);
      }
    };
    const signaller = async () => {
      for (;;) {
        // Also when no user is waiting: the batch is not over while others are still being signalled.
        await readAhead();
        topUp();
        if (next >= order.length) return;
        const key = order[next++]!;
        started.add(key);
        const rows = users.get(key)!;
        for (let i = 0; i < rows.length; i += this.maxRefsPerSignal) await this.signalUntilAccepted(rows.slice(i, i + this.maxRefsPerSignal));
        const newest = rows.at(-1)!;
        if (comparePositions(newest, last) > 0) this.sentAhead.set(key, { bucket: newest.bucket, position: { xid: newest.xid, seq: newest.seq } });
      }
    };
    topUp();
    while (workers.size > 0) await Promise.all(workers);
    if (failure) throw failure.err;
  }

  private async signalUntilAccepted(rows: readonly Row[]): Promise<void> {
    const first = rows[0]!;
    const workflowId = pipelineWorkflowId(first.source_id, first.user_key);
    const args: PipelineArgs = { sourceId: first.source_id, userKey: first.user_key, bucket: first.bucket, settings: this.options.pipelineSettings };
    const input = signalInput(rows);
    for (let attempt = 1; ; attempt++) {
      try {
        // A deadline, so that one call Temporal never answers cannot hold the relay up for ever.
        await this.options.client.withDeadline(Date.now() + SIGNAL_TIMEOUT_MS, () => this.options.client.workflow.signalWithStart(PIPELINE_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: this.options.taskQueue,
          args: [args],
          signal: logSignal,
          signalArgs: [input],
          typedSearchAttributes: [
            { key: searchAttributes.sourceId, value: first.source_id },
            { key: searchAttributes.userKey, value: first.user_key },
          ],
        }));
        this.options.metrics?.signalEvents.observe(rows.length);
        // The first and last messageIds tie this signal to the gateway's and the delivery's log lines.
        this.options.logger.debug({ workflowId, events: rows.length, messageId: first.message_id, lastMessageId: rows.at(-1)!.message_id }, 'relay: signalled');
        return;
      } catch (err) {
        if (!this.running) throw err;
        if (attempt === 3 || attempt % 20 === 0) {
          this.options.logger.warn({ err, workflowId, messageId: first.message_id, events: rows.length, attempt }, 'relay: Temporal did not accept a signal; retrying');
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  private async rebalance(): Promise<void> {
    try {
      const { gained, released, lost } = await this.leases.rebalance();
      this.options.metrics?.ownedBuckets.set(this.leases.owned.size);
      if (gained.length + released.length + lost.length > 0) {
        this.options.logger.info({ gained, released, lost, owned: this.ownedBuckets().length }, 'relay: buckets changed hands');
      }
    } catch (err) {
      this.options.logger.warn({ err }, 'relay: could not rebalance buckets');
    }
  }

  private async renew(): Promise<void> {
    try {
      await this.leases.renew(this.lastLag);
    } catch (err) {
      this.options.logger.warn({ err }, 'relay: could not renew its leases');
    }
  }

  /** Counts this relay's unrelayed rows (up to a cap) and the age of the oldest; logged when behind. */
  private async measureLag(): Promise<void> {
    const owned = [...this.leases.owned.values()];
    if (owned.length === 0) {
      this.lastLag = { rows: 0, buckets: 0 };
      this.recordLag();
      return;
    }
    const start = owned.reduce((min, b) => (comparePositions(b.cursor, min) < 0 ? b.cursor : min), owned[0]!.cursor);
    try {
      const { rows } = await this.options.pool.query<{ rows: string; oldest: Date | null }>(
        `SELECT count(*) AS rows, min(logged_at) AS oldest FROM (
           SELECT logged_at FROM event_log
            WHERE bucket = ANY($1::smallint[]) AND (xid, seq) > ($2::xid8, $3::bigint)
            ORDER BY xid, seq LIMIT $4) behind`,
        [owned.map((b) => b.bucket), start.xid, start.seq, LAG_COUNT_CAP],
      );
      this.lastLag = { rows: Number(rows[0]!.rows), oldestAt: rows[0]!.oldest ?? undefined, buckets: owned.length };
      this.recordLag();
      if (this.lastLag.rows > 0) {
        const ageSeconds = this.lastLag.oldestAt ? Math.round((Date.now() - this.lastLag.oldestAt.getTime()) / 1000) : 0;
        this.options.logger.info({ unrelayedRows: this.lastLag.rows, oldestAgeSeconds: ageSeconds, buckets: owned.length }, 'relay: behind the log');
      }
    } catch (err) {
      this.options.logger.warn({ err }, 'relay: could not measure its lag');
    }
  }

  private recordLag(): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    metrics.lagRows.set(this.lastLag.rows);
    metrics.lagSeconds.set(this.lastLag.oldestAt ? Math.max(0, (Date.now() - this.lastLag.oldestAt.getTime()) / 1000) : 0);
    metrics.ownedBuckets.set(this.lastLag.buckets);
  }

  /** LISTEN on a connection of its own; reconnects when it drops (until then, the 1 s poll covers). */
  private async listen(): Promise<void> {
    if (!this.running) return;
    const listener = new PgClient({ connectionString: this.options.databaseUrl });
    listener.on('error', () => undefined);
    listener.on('end', () => {
      if (this.listener === listener && this.running) setTimeout(() => void this.listen(), 1_000);
    });
    listener.on('notification', (message) => {
      const buckets = message.payload ? message.payload.split(',').map(Number) : [];
      if (buckets.length === 0 || buckets.some((b) => this.leases.owned.has(b))) {
        this.woken = true;
        this.wake();
      }
    });
    try {
      await listener.connect();
      await listener.query(`LISTEN ${LOG_CHANNEL}`);
      this.listener = listener;
    } catch (err) {
      this.options.logger.warn({ err }, 'relay: LISTEN failed; polling every second until it works');
      await listener.end().catch(() => undefined);
      setTimeout(() => void this.listen(), 1_000);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** A user's rows as one signal: references only, with the routes listed once. */
function signalInput(rows: readonly Row[]): LogSignalInput {
  const routes: string[][] = [];
  const routeIndex = new Map<string, number>();
  const refs = rows.map((row): LogRef => {
    const key = JSON.stringify(row.destinations);
    let route = routeIndex.get(key);
    if (route === undefined) {
      route = routes.length;
      routes.push([...row.destinations]);
      routeIndex.set(key, route);
    }
    return {
      xid: row.xid,
      seq: row.seq,
      messageId: row.message_id,
      type: row.type,
      ...(row.event_name === null ? {} : { event: row.event_name }),
      loggedAt: row.logged_at.getTime(),
      route,
    };
  });
  return { refs, routes };
}
