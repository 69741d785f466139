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

export interface HealthChecker extends HealthCheck {
  /**
   * Resolves once no probe call is still running. A probe answers at its timeout, but the call it
   * gave up on may still be retrying inside the Temporal client, and closing the connection under a
   * pending retry crashes the process; await this before closing.
   */
  settled(): Promise<void>;
}

/** Probes Temporal and PostgreSQL, each with its own short deadline so one slow part cannot hang /health. */
export function createHealthCheck({ connection, pool, timeoutMs = 2_000 }: { connection: Connection; pool: Pool; timeoutMs?: number }): HealthChecker {
  const running = new Set<Promise<unknown>>();
  const track = (call: Promise<unknown>): Promise<unknown> => {
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    running.add(settled);
    void settled.then(() => running.delete(settled));
    return call;
  };
  const check = async (): Promise<HealthReport> => {
    const [temporal, database] = await Promise.all([
      probe(() => track(connection.withDeadline(Date.now() + timeoutMs, () => connection.healthService.check({}))), timeoutMs),
      probe(() => track(pool.query('SELECT 1')), timeoutMs),
    ]);
    const ok = temporal.ok && database.ok;
    return { status: ok ? 'ok' : 'unavailable', components: { gateway: { ok: true }, temporal, database } };
  };
  const settled = async (): Promise<void> => {
    await Promise.all([...running]);
  };
  return Object.assign(check, { settled });
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
