/**
 * Reading events back from the log by sequence number: the delivery step reads the events of the
 * lane items it delivers, replay reads ranges. Temporal only ever holds the references.
 */
import type { Pool } from 'pg';
import type { FerryEvent } from '../events/event';

/** The events logged under these sequence numbers; a number the log no longer holds is absent. */
export async function readEvents(pool: Pool, seqs: readonly number[]): Promise<Map<number, FerryEvent>> {
  if (seqs.length === 0) return new Map();
  // bigint comes back as text from node-postgres; float8 is exact for every sequence number below 2^53.
  const { rows } = await pool.query<{ seq: number; event: FerryEvent }>('SELECT seq::float8 AS seq, event FROM event_log WHERE seq = ANY($1::bigint[])', [seqs]);
  return new Map(rows.map((r) => [r.seq, r.event]));
}
