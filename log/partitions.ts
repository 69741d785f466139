/**
 * The log's daily partitions (UTC days, by the database clock's `logged_at`): created ahead of time,
 * and dropped whole once older than the retention, unless a row in them is still owed to someone —
 * not yet relayed, or held by a workflow that has not delivered it.
 */
import type { Pool, PoolClient } from 'pg';

const DAY_MS = 86_400_000;
/** Serialises partition DDL across gateways and workers ("FLOG"). */
const PARTITION_LOCK = 0x464c4f47;

export function partitionName(day: Date): string {
  return `event_log_${day.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

function startOfDay(at: Date): Date {
  return new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);
}

/** Creates the partitions of the `days` days starting with the day of `from`, where missing. */
export async function ensurePartitions(pool: Pool, { from = new Date(), days = 3 }: { from?: Date; days?: number } = {}): Promise<string[]> {
  const client = await pool.connect();
  const created: string[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
    const existing = new Set((await listPartitions(client)).map((p) => p.name));
    for (let i = 0; i < days; i++) {
      const day = new Date(startOfDay(from).getTime() + i * DAY_MS);
      const name = partitionName(day);
      if (existing.has(name)) continue;
      const next = new Date(day.getTime() + DAY_MS);
      await client.query(`CREATE TABLE ${quote(name)} PARTITION OF event_log FOR VALUES FROM ('${day.toISOString()}') TO ('${next.toISOString()}')`);
      created.push(name);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return created;
}

export interface Partition {
  readonly name: string;
  readonly from: Date;
  readonly to: Date;
}

async function listPartitions(client: PoolClient | Pool): Promise<Partition[]> {
  const { rows } = await client.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass('event_log')`,
  );
  return rows
    .map((r) => {
      const [from, to] = [...r.bound.matchAll(/'([^']+)'/g)].map((m) => new Date(m[1]!));
      return { name: r.name, from: from!, to: to! };
    })
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}

export interface RetentionResult {
  readonly dropped: readonly string[];
  /** Partitions past the retention that were kept, and why. */
  readonly kept: ReadonlyArray<{ readonly name: string; readonly why: string }>;
}

/**
 * Drops partitions that ended more than `retentionDays` ago, oldest first, and stops at the first one
 * that must stay: one with rows a relay has not passed yet, or rows a workflow still holds.
 */
export async function dropExpiredPartitions(pool: Pool, { retentionDays, now = new Date() }: { retentionDays: number; now?: Date }): Promise<RetentionResult> {
  const cutoff = new Date(now.getTime() - retentionDays * DAY_MS);
  const dropped: string[] = [];
  const kept: Array<{ name: string; why: string }> = [];
  for (const partition of await listPartitions(pool)) {
    if (partition.to > cutoff) break;
    const why = await owedIn(pool, partition);
    if (why) {
      kept.push({ name: partition.name, why });
      // Later partitions hold later rows: whatever keeps this one keeps them too, and the log stays contiguous.
      break;
    }
    // CONCURRENTLY: the writers and readers of the parent table are not blocked while it detaches.
    await pool.query(`ALTER TABLE event_log DETACH PARTITION ${quote(partition.name)} CONCURRENTLY`).catch(async (err: unknown) => {
      // A detach cut short earlier is finished instead.
      if (!/pending detach/i.test((err as Error).message)) throw err;
      await pool.query(`ALTER TABLE event_log DETACH PARTITION ${quote(partition.name)} FINALIZE`);
    });
    await pool.query(`DROP TABLE ${quote(partition.name)}`);
    dropped.push(partition.name);
  }
  return { dropped, kept };
}

async function owedIn(pool: Pool, partition: Partition): Promise<string | undefined> {
  const unrelayed = await pool.query(
    `SELECT 1 FROM ${quote(partition.name)} e JOIN relay_buckets b ON b.bucket = e.bucket
      WHERE (e.xid, e.seq) > (b.cursor_xid, b.cursor_seq) LIMIT 1`,
  );
  if (unrelayed.rows.length > 0) return 'it has rows not relayed yet';
  const held = await pool.query<{ workflow_id: string }>('SELECT workflow_id FROM log_holds WHERE oldest_logged_at < $1 LIMIT 1', [partition.to]);
  if (held.rows.length > 0) return `workflow ${held.rows[0]!.workflow_id} still owes deliveries of its rows`;
  return undefined;
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
