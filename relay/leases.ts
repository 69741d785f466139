/**
 * Which relay relays which bucket. Each bucket has one owner at a time, by a lease in relay_buckets
 * renewed every second; a relay that dies stops renewing and its buckets go to the others once the
 * lease runs out. Every change of owner raises the bucket's epoch, and a relay advances a bucket's
 * cursor only under the epoch it claimed it with (fencing): a relay that lost a bucket without
 * noticing can send a few signals twice (the workflows drop them), but never move the cursor.
 */
import type { Pool } from 'pg';
import { ConfigError } from '../config/errors';
import type { LogPosition } from '../log/position';

export interface LeaseOptions {
  readonly pool: Pool;
  /** This relay's identity, unique among running relays. */
  readonly id: string;
  /** Buckets users hash into (FERRY_LOG_BUCKETS); the table must have been made with the same number. */
  readonly buckets: number;
  /** How long a lease lasts without renewal: how long a dead relay's buckets wait. @default 5000 */
  readonly leaseMs?: number;
}

export interface OwnedBucket {
  readonly bucket: number;
  readonly epoch: number;
  cursor: LogPosition;
}

export class BucketLeases {
  readonly owned = new Map<number, OwnedBucket>();
  /** Buckets whose lease was found lost by renew(); the relay drops them between batches. */
  private readonly lost = new Set<number>();
  private readonly leaseMs: number;

  constructor(private readonly options: LeaseOptions) {
    this.leaseMs = options.leaseMs ?? 5_000;
  }

  /** Creates the buckets' rows on first use, and checks the table was made for this many buckets. */
  async ensureBuckets(): Promise<void> {
    const { pool, buckets } = this.options;
    await pool.query('INSERT INTO relay_buckets (bucket) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING', [buckets]);
    const { rows } = await pool.query<{ count: string }>('SELECT count(*) FROM relay_buckets');
    if (Number(rows[0]!.count) !== buckets) {
      throw new ConfigError(`the log has ${rows[0]!.count} relay buckets but FERRY_LOG_BUCKETS is ${buckets}; every gateway and worker must use the number the log was created with`, 'FERRY_LOG_BUCKETS');
    }
  }

  /**
   * Heartbeats this relay (with the lag it last measured) and renews its leases. Safe to call while the
   * relay is mid-batch.
   */
  async renew(lag: { rows: number; oldestAt?: Date } = { rows: 0 }): Promise<void> {
    const { pool, id } = this.options;
    const mine = [...this.owned.keys()];
    await pool.query(
      `INSERT INTO relay_members (id, heartbeat_at, buckets, lag_rows, lag_oldest_at) VALUES ($1, now(), $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), buckets = $2, lag_rows = $3, lag_oldest_at = $4`,
      [id, mine, lag.rows, lag.oldestAt ?? null],
    );
    if (mine.length === 0) return;
    const { rows } = await pool.query<{ bucket: number }>(
      `UPDATE relay_buckets SET lease_until = now() + make_interval(secs => $3)
        WHERE owner = $1 AND bucket = ANY($2::smallint[]) RETURNING bucket`,
      [id, mine, this.leaseMs / 1000],
    );
    const renewed = new Set(rows.map((r) => r.bucket));
    for (const bucket of mine) if (!renewed.has(bucket)) this.lost.add(bucket);
  }

  /**
   * Between batches: drops buckets found lost, claims free or expired ones up to this relay's share
   * (the buckets divided among the live relays), and gives back what is over it. Returns the changes.
   */
  async rebalance(): Promise<{ gained: number[]; released: number[]; lost: number[] }> {
    const { pool, id, buckets } = this.options;
    const lost = [...this.lost];
    for (const bucket of lost) this.owned.delete(bucket);
    this.lost.clear();
    const { rows: live } = await pool.query<{ count: string }>(
      'SELECT count(*) FROM relay_members WHERE heartbeat_at > now() - make_interval(secs => $1) OR id = $2',
      [this.leaseMs / 1000, id],
    );
    const share = Math.ceil(buckets / Math.max(1, Number(live[0]!.count)));
    const released: number[] = [];
    if (this.owned.size > share) {
      const extra = [...this.owned.keys()].sort((a, b) => b - a).slice(0, this.owned.size - share);
      await pool.query('UPDATE relay_buckets SET owner = NULL, lease_until = NULL WHERE owner = $1 AND bucket = ANY($2::smallint[])', [id, extra]);
      for (const bucket of extra) this.owned.delete(bucket);
      released.push(...extra);
    }
    const gained: number[] = [];
    if (this.owned.size < share) {
      const { rows } = await pool.query<{ bucket: number; epoch: string; xid: string; seq: number }>(
        `UPDATE relay_buckets b SET owner = $1, epoch = b.epoch + 1, lease_until = now() + make_interval(secs => $3)
           FROM (SELECT bucket FROM relay_buckets WHERE owner IS NULL OR lease_until < now() ORDER BY bucket LIMIT $2 FOR UPDATE SKIP LOCKED) free
          WHERE b.bucket = free.bucket
          RETURNING b.bucket, b.epoch, b.cursor_xid::text AS xid, b.cursor_seq::float8 AS seq`,
        [id, share - this.owned.size, this.leaseMs / 1000],
      );
      for (const row of rows) {
        this.owned.set(row.bucket, { bucket: row.bucket, epoch: Number(row.epoch), cursor: { xid: row.xid, seq: row.seq } });
        gained.push(row.bucket);
      }
    }
    return { gained, released, lost };
  }

  /**
   * Moves the cursors of these buckets forward, each under the epoch this relay claimed it with.
   * Buckets another relay took meanwhile are dropped from `owned` and returned.
   */
  async advance(positions: ReadonlyMap<number, LogPosition>): Promise<number[]> {
    const entries = [...positions].filter(([bucket]) => this.owned.has(bucket));
    if (entries.length === 0) return [];
    const { rows } = await this.options.pool.query<{ bucket: number }>(
      `UPDATE relay_buckets b SET cursor_xid = u.xid::xid8, cursor_seq = u.seq, relayed_at = now()
         FROM unnest($2::smallint[], $3::bigint[], $4::text[], $5::bigint[]) AS u(bucket, epoch, xid, seq)
        WHERE b.bucket = u.bucket AND b.owner = $1 AND b.epoch = u.epoch
        RETURNING b.bucket`,
      [
        this.options.id,
        entries.map(([bucket]) => bucket),
        entries.map(([bucket]) => this.owned.get(bucket)!.epoch),
        entries.map(([, p]) => p.xid),
        entries.map(([, p]) => p.seq),
      ],
    );
    const advanced = new Set(rows.map((r) => r.bucket));
    const lost: number[] = [];
    for (const [bucket, position] of entries) {
      if (advanced.has(bucket)) this.owned.get(bucket)!.cursor = position;
      else {
        this.owned.delete(bucket);
        lost.push(bucket);
      }
    }
    return lost;
  }

  /** Gives every bucket back at once (a clean shutdown), so others need not wait for the leases to run out. */
  async releaseAll(): Promise<void> {
    const { pool, id } = this.options;
    await pool.query('UPDATE relay_buckets SET owner = NULL, lease_until = NULL WHERE owner = $1', [id]);
    await pool.query('DELETE FROM relay_members WHERE id = $1', [id]);
    this.owned.clear();
  }
}
