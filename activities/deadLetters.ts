import type { Pool } from 'pg';
import type { DeliveryRequest } from '../delivery/requests';
import type { FerryEvent } from '../events/event';

export interface DeadLetterEntry {
  /** The event as logged; for an event the log no longer holds, what is known of it. */
  readonly event: FerryEvent | { readonly messageId: string };
  readonly stage: 'transform' | 'deliver';
  readonly reason: string;
  readonly attempts: number;
  readonly requests?: readonly DeliveryRequest[];
  readonly lastStatus?: number;
  readonly lastError?: string;
  readonly responseBody?: string;
  readonly firstFailedAt?: number;
}

export interface DeadLetterInput {
  readonly sourceId: string;
  readonly destinationId: string;
  readonly workflowId: string;
  readonly entries: readonly DeadLetterEntry[];
}

/**
 * Writes aborted events to the dead-letter table. Upserts on (source, destination, message) so that a
 * retry of this activity after a crash, or a replayed event aborting again, keeps one row with the
 * latest facts. The source is part of the key because destination ids are unique only within a source.
 */
export function createRecordDeadLetters({ pool }: { pool: Pool }) {
  return async function recordDeadLetters(input: DeadLetterInput): Promise<void> {
    for (const entry of input.entries) {
      await pool.query(
        `INSERT INTO dead_letters
           (source_id, destination_id, workflow_id, message_id, stage, reason, attempts,
            last_status, last_error, response_body, event, payload, first_failed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (source_id, destination_id, message_id) DO UPDATE SET
           workflow_id = EXCLUDED.workflow_id, stage = EXCLUDED.stage,
           reason = EXCLUDED.reason, attempts = EXCLUDED.attempts, last_status = EXCLUDED.last_status,
           last_error = EXCLUDED.last_error, response_body = EXCLUDED.response_body, event = EXCLUDED.event,
           payload = EXCLUDED.payload, first_failed_at = EXCLUDED.first_failed_at, aborted_at = now(),
           replayed_at = NULL`,
        [
          input.sourceId,
          input.destinationId,
          input.workflowId,
          entry.event.messageId,
          entry.stage,
          entry.reason,
          entry.attempts,
          entry.lastStatus ?? null,
          entry.lastError ?? null,
          entry.responseBody ?? null,
          JSON.stringify(entry.event),
          entry.requests === undefined ? null : JSON.stringify(entry.requests),
          entry.firstFailedAt === undefined ? null : new Date(entry.firstFailedAt),
        ],
      );
    }
  };
}
