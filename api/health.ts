/**
 * GET /health: whether the gateway can take events (it can whenever PostgreSQL, which holds the log,
 * answers), and how the rest of the pipeline is doing: Temporal, and the relays forwarding the log.
 */
import type { Connection } from '@temporalio/client';
import type { Pool } from 'pg';

export interface ComponentHealth {
  readonly ok: boolean;
  readonly error?: string;
  readonly latencyMs?: number;
}

export interface RelayHealth extends ComponentHealth {
  /** Relays that renewed their leases in the last few seconds. */
  readonly relays: number;
  /** Buckets with a live owner, of all buckets. */
  readonly bucketsOwned: number;
  readonly buckets: number;
  /** Rows accepted but not yet forwarded to Temporal, as the relays last counted them. */
  readonly unrelayedRows: number;
  /** Age of the oldest of them. */
  readonly oldestUnrelayedSeconds?: number;
}

export interface HealthReport {
  /** `ok` when events are being accepted: the log's database answers. */
  readonly status: 'ok' | 'unavailable';
  readonly components: {
    readonly gateway: ComponentHealth;
    readonly database: ComponentHealth;
    /** Delivery waits while Temporal is away; ingest does not. */
    readonly temporal: ComponentHealth;
    readonly relay: RelayHealth | ComponentHealth;
  };
}

export type HealthCheck = () => Promise<HealthReport>;

export interface HealthChecker extends HealthCheck {
  /**
   * Resolves once no probe call is still running. A probe answers at its timeout, but the call it
   * gave up on may still be retrying inside the Temporal client, and closing the connection under a
   * pending retry crashes the process; await this before closing.
   */
  settled(): Promise<void>;
}

export interface HealthCheckOptions {
  readonly connection: Connection;
  readonly pool: Pool;
  /** Each probe's own deadline, so one slow part cannot hang /health. @default 2000 */
  readonly timeoutMs?: number;
}

export function createHealthCheck({ connection, pool, timeoutMs = 2_000 }: HealthCheckOptions): HealthChecker {
  const running = new Set<Promise<unknown>>();
  const track = <T>(call: Promise<T>): Promise<T> => {
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    running.add(settled);
    void settled.then(() => running.delete(settled));
    return call;
  };
  const check = async (): Promise<HealthReport> => {
    const [temporal, database, relay] = await Promise.all([
      probe(() => track(connection.withDeadline(Date.now() + timeoutMs, () => connection.healthService.check({}))), timeoutMs),
      probe(() => track(pool.query('SELECT 1')), timeoutMs),
      relayHealth(pool, timeoutMs, track),
    ]);
    return { status: database.ok ? 'ok' : 'unavailable', components: { gateway: { ok: true }, database, temporal, relay } };
  };
  const settled = async (): Promise<void> => {
    await Promise.all([...running]);
  };
  return Object.assign(check, { settled });
}

async function relayHealth(pool: Pool, timeoutMs: number, track: <T>(call: Promise<T>) => Promise<T>): Promise<RelayHealth | ComponentHealth> {
  let row: { relays: string; owned: string; buckets: string; lag_rows: string; oldest: Date | null } | undefined;
  const probed = await probe(async () => {
    const { rows } = await track(
      pool.query<NonNullable<typeof row>>(
        `SELECT (SELECT count(*) FROM relay_members WHERE heartbeat_at > now() - interval '10 seconds') AS relays,
                (SELECT count(*) FROM relay_buckets WHERE lease_until > now()) AS owned,
                (SELECT count(*) FROM relay_buckets) AS buckets,
                (SELECT coalesce(sum(lag_rows), 0) FROM relay_members WHERE heartbeat_at > now() - interval '10 seconds') AS lag_rows,
                (SELECT min(lag_oldest_at) FROM relay_members WHERE heartbeat_at > now() - interval '10 seconds' AND lag_rows > 0) AS oldest`,
      ),
    );
    row = rows[0];
  }, timeoutMs);
  if (!probed.ok || !row) return probed;
  const relays = Number(row.relays);
  const owned = Number(row.owned);
  const buckets = Number(row.buckets);
  const report: RelayHealth = {
    ok: relays > 0 && owned === buckets,
    ...(relays === 0 ? { error: 'no relay is running: events are stored but not forwarded' } : owned < buckets ? { error: `${buckets - owned} bucket(s) have no relay` } : {}),
    relays,
    bucketsOwned: owned,
    buckets,
    unrelayedRows: Number(row.lag_rows),
    ...(row.oldest ? { oldestUnrelayedSeconds: Math.round((Date.now() - row.oldest.getTime()) / 1000) } : {}),
  };
  return report;
}

async function probe(fn: () => Promise<unknown>, timeoutMs: number): Promise<ComponentHealth> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Date.now() - started };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), latencyMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
