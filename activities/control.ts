/**
 * The supervisor's hands: it publishes its decisions where every worker and gateway reads them (the
 * control tables), and wakes the lanes that parked on a pause once it is lifted.
 */
import type { Client } from '@temporalio/client';
import { heartbeat } from '@temporalio/activity';
import type { Pool } from 'pg';
import { RESUME_LANES_SIGNAL, type DestinationState, type PipelineMode } from '../control/state';

export interface PublishedControl {
  /** The last operator command the supervisor has applied: overrides up to it are cleared. */
  readonly operatorSeq: number;
  readonly mode: PipelineMode;
  readonly modeReason?: string;
  readonly destinations: ReadonlyArray<{ readonly id: string; readonly state: DestinationState; readonly reason?: string }>;
}

export interface WakeLanesInput {
  /** The destination whose lanes to wake; every parked lane when unset (leaving degraded mode). */
  readonly destinationId?: string;
  /** Wake at most this many, oldest first (a probe). @default all */
  readonly limit?: number;
}

export interface ControlActivityDeps {
  readonly pool: Pool;
  /** Signals the parked workflows. */
  readonly client: Client;
  /**
   * Signals in flight at once while waking. Bounded so that a resume of many lanes neither floods
   * Temporal nor starts every lane's backlog in the same second. @default 20
   */
  readonly wakeConcurrency?: number;
}

export function createControlActivities({ pool, client, wakeConcurrency = 20 }: ControlActivityDeps) {
  return {
    /** Makes the supervisor's decisions the ones every worker and gateway reads (within ~1 s). */
    async publishControl(control: PublishedControl): Promise<void> {
      const db = await pool.connect();
      try {
        await db.query('BEGIN');
        await db.query(
          `UPDATE pipeline_control SET mode = $1, reason = $2,
             changed_at = CASE WHEN mode IS DISTINCT FROM $1 THEN now() ELSE changed_at END,
             operator_mode = CASE WHEN operator_seq <= $3 THEN NULL ELSE operator_mode END,
             operator_seq = CASE WHEN operator_seq <= $3 THEN NULL ELSE operator_seq END`,
          [control.mode, control.modeReason ?? null, control.operatorSeq],
        );
        await db.query(
          `INSERT INTO destination_control (destination_id, state, reason)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT (destination_id) DO UPDATE SET state = EXCLUDED.state, reason = EXCLUDED.reason,
             changed_at = CASE WHEN destination_control.state = EXCLUDED.state THEN destination_control.changed_at ELSE now() END`,
          [control.destinations.map((d) => d.id), control.destinations.map((d) => d.state), control.destinations.map((d) => d.reason ?? null)],
        );
        await db.query('UPDATE destination_control SET operator_state = NULL, operator_reason = NULL, operator_seq = NULL WHERE operator_seq <= $1', [control.operatorSeq]);
        await db.query('DELETE FROM destination_control WHERE NOT (destination_id = ANY($1::text[])) AND operator_state IS NULL', [control.destinations.map((d) => d.id)]);
        await db.query('COMMIT');
      } catch (err) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        db.release();
      }
    },

    /** Wakes parked lanes (see wakeParkedLanes), heartbeating its progress. */
    async wakeLanes(input: WakeLanesInput): Promise<{ woken: number }> {
      return wakeParkedLanes({ pool, client, wakeConcurrency }, input, (woken) => heartbeat({ woken }));
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;

/**
 * Signals parked lanes to look again, oldest first, a bounded number at a time; each row is removed
 * once its workflow has the signal. A lane that is still paused when it looks parks again. Used by the
 * supervisor's activity and, for an operator's resume, at once by the command itself.
 */
export async function wakeParkedLanes(
  { pool, client, wakeConcurrency = 20 }: ControlActivityDeps,
  { destinationId, limit }: WakeLanesInput,
  onProgress: (woken: number) => void = () => undefined,
): Promise<{ woken: number }> {
  let woken = 0;
  for (;;) {
    const want = Math.min(500, limit === undefined ? 500 : limit - woken);
    if (want <= 0) break;
    const { rows } = await pool.query<{ workflow_id: string; destination_id: string }>(
      `SELECT workflow_id, destination_id FROM paused_lanes
        WHERE ($1::text IS NULL OR destination_id = $1) ORDER BY paused_at LIMIT $2`,
      [destinationId ?? null, want],
    );
    if (rows.length === 0) break;
    let next = 0;
    const signalOne = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        try {
          await client.workflow.getHandle(row.workflow_id).signal(RESUME_LANES_SIGNAL, { destinationId: row.destination_id });
        } catch (err) {
          // A workflow that has finished has no lane to wake; anything else is retried by the caller.
          if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
        }
        await pool.query('DELETE FROM paused_lanes WHERE workflow_id = $1 AND destination_id = $2', [row.workflow_id, row.destination_id]);
        woken += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(wakeConcurrency, rows.length) }, signalOne));
    onProgress(woken);
  }
  return { woken };
}

/** Where lanes stopped by a pause are registered, so the supervisor's wake finds them. */
export function parkedLanesIn(pool: Pool) {
  return {
    async park(lane: { readonly workflowId: string; readonly destinationId: string }): Promise<void> {
      await pool.query('INSERT INTO paused_lanes (workflow_id, destination_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [lane.workflowId, lane.destinationId]);
    },
    async unpark(lane: { readonly workflowId: string; readonly destinationId: string }): Promise<void> {
      await pool.query('DELETE FROM paused_lanes WHERE workflow_id = $1 AND destination_id = $2', [lane.workflowId, lane.destinationId]);
    },
  };
}
