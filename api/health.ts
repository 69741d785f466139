import type { Connection } from '@temporalio/client';
import type { Pool } from 'pg';

export interface ComponentHealth {
  readonly ok: boolean;
  readonly error?: string;
  readonly latencyMs?: number;
}

export interface HealthReport {
  readonly status: 'ok' | 'unavailable';
  readonly components: { readonly gateway: ComponentHealth; readonly temporal: ComponentHealth; readonly database: ComponentHealth };
}

export type HealthCheck = () => Promise<HealthReport>;

/** Probes Temporal and PostgreSQL, each with its own short deadline so one slow part cannot hang /health. */
export function createHealthCheck({ connection, pool, timeoutMs = 2_000 }: { connection: Connection; pool: Pool; timeoutMs?: number }): HealthCheck {
  return async () => {
    const [temporal, database] = await Promise.all([
      probe(() => connection.withDeadline(Date.now() + timeoutMs, () => connection.healthService.check({})), timeoutMs),
      probe(() => pool.query('SELECT 1'), timeoutMs),
    ]);
    const ok = temporal.ok && database.ok;
    return { status: ok ? 'ok' : 'unavailable', components: { gateway: { ok: true }, temporal, database } };
  };
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
