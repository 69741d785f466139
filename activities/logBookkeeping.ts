/**
 * The workflow's side of log retention and relay repeats: a workflow holding old events registers a
 * hold so their partition is kept, and an idle workflow asks whether it may finish.
 */
import type { Pool } from 'pg';
import type { LogPosition } from '../log/position';

export interface HoldLogInput {
  readonly workflowId: string;
  /** The oldest pending event's logged-at, epoch ms; absent to drop the hold. */
  readonly oldestLoggedAt?: number;
}

export interface ReleaseLogInput {
  readonly workflowId: string;
  readonly bucket: number;
  /** The last log position the workflow applied. */
  readonly applied: LogPosition;
}

export function createLogBookkeeping({ pool }: { pool: Pool }) {
  return {
    async holdLog({ workflowId, oldestLoggedAt }: HoldLogInput): Promise<void> {
      if (oldestLoggedAt === undefined) {
        await pool.query('DELETE FROM log_holds WHERE workflow_id = $1', [workflowId]);
        return;
      }
      await pool.query(
        `INSERT INTO log_holds (workflow_id, oldest_logged_at) VALUES ($1, $2)
         ON CONFLICT (workflow_id) DO UPDATE SET oldest_logged_at = EXCLUDED.oldest_logged_at, updated_at = now()`,
        [workflowId, new Date(oldestLoggedAt)],
      );
    },

    /**
     * True once the bucket's relay cursor has passed everything the workflow applied: no relay will
     * send those rows again, so the workflow may finish (its hold, if any, is dropped). False: wait.
     */
    async releaseLog({ workflowId, bucket, applied }: ReleaseLogInput): Promise<boolean> {
      const { rows } = await pool.query<{ passed: boolean }>(
        'SELECT (cursor_xid, cursor_seq) >= ($2::xid8, $3::bigint) AS passed FROM relay_buckets WHERE bucket = $1',
        [bucket, applied.xid, applied.seq],
      );
      if (rows[0] && !rows[0].passed) return false;
      await pool.query('DELETE FROM log_holds WHERE workflow_id = $1', [workflowId]);
      return true;
    },
  };
}
