/**
 * Durable progress of delivery steps: each settled item's result is committed before the next item is
 * sent, group-committed across all lanes of the worker. A step that runs again after a crash (the
 * worker died mid-step) reads what is already settled and sends only the rest.
 *
 * The pool may commit asynchronously (createPool's `asyncCommit`): a worker crash loses nothing
 * committed, and only a crash of PostgreSQL itself can lose the last fraction of a second of records,
 * which costs nothing worse than re-sending those items, under the same Idempotency-Key.
 */
import type { Pool } from 'pg';
import type { ItemResult } from '../contract';
import { GroupCommit } from '../../db/groupCommit';

/** Identifies one lane of one user's workflow. */
export interface LaneRef {
  readonly workflowId: string;
  readonly destinationId: string;
}

interface Row extends LaneRef {
  readonly result: ItemResult;
}

export interface DeliveryProgressOptions {
  /** Outcomes older than this are deleted by cleanup(). @default 1 day */
  readonly keepMs?: number;
}

export class DeliveryProgress {
  private readonly commits: GroupCommit<Row>;
  private readonly keepMs: number;

  constructor(
    private readonly pool: Pool,
    { keepMs = 24 * 3_600_000 }: DeliveryProgressOptions = {},
  ) {
    this.keepMs = keepMs;
    // maxWaitMs 0: under load the rows of many lanes share a commit anyway; alone, a lane waits for nothing.
    this.commits = new GroupCommit((rows) => this.insert(rows), { maxRows: 500, maxWaitMs: 0 });
  }

  /** Resolves once the item's result is committed. */
  record(lane: LaneRef, result: ItemResult): Promise<void> {
    return this.commits.add([{ ...lane, result }]);
  }

  /** Results already recorded for these items of the lane, by messageId. */
  async recorded(lane: LaneRef, messageIds: readonly string[]): Promise<Map<string, ItemResult>> {
    const { rows } = await this.pool.query<{ result: ItemResult }>(
      'SELECT result FROM delivery_outcomes WHERE workflow_id = $1 AND destination_id = $2 AND message_id = ANY($3::text[])',
      [lane.workflowId, lane.destinationId, messageIds],
    );
    return new Map(rows.map((r) => [r.result.messageId, r.result]));
  }

  /** Deletes outcomes past keepMs; returns how many. */
  async cleanup(): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM delivery_outcomes WHERE settled_at < now() - make_interval(secs => $1)', [this.keepMs / 1000]);
    return rowCount ?? 0;
  }

  private async insert(rows: readonly Row[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO delivery_outcomes (workflow_id, destination_id, message_id, result)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
       ON CONFLICT (workflow_id, destination_id, message_id) DO UPDATE SET result = EXCLUDED.result, settled_at = now()`,
      [rows.map((r) => r.workflowId), rows.map((r) => r.destinationId), rows.map((r) => r.result.messageId), rows.map((r) => JSON.stringify(r.result))],
    );
  }
}
