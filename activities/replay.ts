/**
 * What the replay workflow reads and marks: pages of the log (a replay) or of a destination's dead
 * letters (a re-drive), in each user's order; counts for a dry run; the live backlog it yields to.
 * The sending itself is the delivery step's (createActivities builds the replay's variants of it).
 */
import type { Pool } from 'pg';
import type { FerryEvent } from '../events/event';
import { userKeyOf } from '../temporal/names';
import type { ItemResult, StepItem } from './contract';
import type { RedriveRequest, ReplayCursor, ReplayPage, ReplayPlan, ReplayRequest } from './replayContract';

export interface ReplayPageInput {
  readonly request: ReplayRequest | RedriveRequest;
  readonly cursor?: ReplayCursor;
  readonly limit: number;
}

export interface ReplayPlanInput {
  readonly request: ReplayRequest | RedriveRequest;
  /** Most lines in the plan. @default 1000 */
  readonly limit?: number;
}

const PLAN_LINES = 1_000;

/** A dead letter's user, from its stored event; an event that is only a messageId has none. */
function deadLetterUser(event: Partial<FerryEvent>): string {
  try {
    return userKeyOf(event);
  } catch {
    return 'unknown';
  }
}

function logPosition(cursor: ReplayCursor | undefined): { xid: string; seq: number } {
  return cursor && 'xid' in cursor ? cursor : { xid: '0', seq: 0 };
}

function deadLetterAfter(cursor: ReplayCursor | undefined): number {
  return cursor && 'deadLetterId' in cursor ? cursor.deadLetterId : 0;
}

// Each user's events are in the log in the order the gateway accepted them, and the relay's (xid, seq)
// order keeps that: reading in the same order replays each user in their original order. ORDER BY
// names the table's columns: a bare `xid` would mean the text alias and put xid 10000 before 9999.
const LOG_PAGE = `
  SELECT seq::float8 AS ref, xid::text AS xid, source_id, message_id, user_key
    FROM event_log
   WHERE source_id = $1 AND logged_at >= $2 AND logged_at < $3
     AND ($4::text IS NULL OR user_key = $4)
     AND (xid, seq) > ($5::xid8, $6::bigint)
   ORDER BY event_log.xid, event_log.seq
   LIMIT $7`;

// Dead letters in the order they were aborted, which is each user's order at that destination: a lane
// aborts its head before it moves on.
const DEAD_LETTER_PAGE = `
  SELECT id::float8 AS ref, source_id, message_id, event
    FROM dead_letters
   WHERE destination_id = $1 AND ($2::text IS NULL OR source_id = $2)
     AND replayed_at IS NULL AND aborted_at >= $3 AND id > $4
   ORDER BY id
   LIMIT $5`;

export function createReplayActivities({ pool }: { pool: Pool }) {
  return {
    async replayPage({ request, cursor, limit }: ReplayPageInput): Promise<ReplayPage> {
      if (request.kind === 'replay') {
        const after = logPosition(cursor);
        const { rows } = await pool.query<{ ref: number; xid: string; source_id: string; message_id: string; user_key: string }>(LOG_PAGE, [
          request.sourceId,
          new Date(request.from),
          new Date(request.to),
          request.userKey ?? null,
          after.xid,
          after.seq,
          limit,
        ]);
        const last = rows.at(-1);
        return {
          rows: rows.map((r) => ({ ref: r.ref, sourceId: r.source_id, messageId: r.message_id, userKey: r.user_key, destinationIds: request.destinationIds })),
          ...(last && rows.length === limit ? { next: { xid: last.xid, seq: last.ref } } : {}),
        };
      }
      const { rows } = await pool.query<{ ref: number; source_id: string; message_id: string; event: Partial<FerryEvent> }>(DEAD_LETTER_PAGE, [
        request.destinationId,
        request.sourceId ?? null,
        new Date(request.since ?? 0),
        deadLetterAfter(cursor),
        limit,
      ]);
      const last = rows.at(-1);
      return {
        rows: rows.map((r) => ({ ref: r.ref, sourceId: r.source_id, messageId: r.message_id, userKey: deadLetterUser(r.event), destinationIds: [request.destinationId] })),
        ...(last && rows.length === limit ? { next: { deadLetterId: last.ref } } : {}),
      };
    },

    async replayPlan({ request, limit = PLAN_LINES }: ReplayPlanInput): Promise<ReplayPlan> {
      if (request.kind === 'replay') {
        const { rows } = await pool.query<{ user_key: string; events: number }>(
          `SELECT user_key, count(*)::float8 AS events FROM event_log
            WHERE source_id = $1 AND logged_at >= $2 AND logged_at < $3 AND ($4::text IS NULL OR user_key = $4)
            GROUP BY user_key ORDER BY count(*) DESC, user_key`,
          [request.sourceId, new Date(request.from), new Date(request.to), request.userKey ?? null],
        );
        const events = rows.reduce((sum, r) => sum + r.events, 0);
        const lines = rows.flatMap((r) => request.destinationIds.map((destinationId) => ({ userKey: r.user_key, destinationId, events: r.events })));
        return { deliveries: events * request.destinationIds.length, events, lines: lines.slice(0, limit), truncated: lines.length > limit };
      }
      const { rows } = await pool.query<{ event: Partial<FerryEvent> }>(
        `SELECT event FROM dead_letters
          WHERE destination_id = $1 AND ($2::text IS NULL OR source_id = $2) AND replayed_at IS NULL AND aborted_at >= $3`,
        [request.destinationId, request.sourceId ?? null, new Date(request.since ?? 0)],
      );
      const byUser = new Map<string, number>();
      for (const r of rows) byUser.set(deadLetterUser(r.event), (byUser.get(deadLetterUser(r.event)) ?? 0) + 1);
      const lines = [...byUser]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([userKey, events]) => ({ userKey, destinationId: request.destinationId, events }));
      return { deliveries: rows.length, events: rows.length, lines: lines.slice(0, limit), truncated: lines.length > limit };
    },

    /** Log rows not yet relayed, as the live relays last measured them. */
    async liveBacklog(): Promise<number> {
      const { rows } = await pool.query<{ rows: number }>(
        `SELECT coalesce(sum(lag_rows), 0)::float8 AS rows FROM relay_members WHERE heartbeat_at > now() - interval '30 seconds'`,
      );
      return rows[0]?.rows ?? 0;
    },
  };
}

/**
 * Marks the dead letters a re-drive delivered (or filtered), so a second re-drive of the same range
 * sends nothing. One aborted again stays a dead letter, for the next re-drive.
 */
export async function markRedriven(pool: Pool, items: readonly StepItem[], results: readonly ItemResult[]): Promise<void> {
  const ids = items.filter((_, i) => results[i] !== undefined && results[i].outcome !== 'aborted').map((item) => item.seq);
  if (ids.length === 0) return;
  await pool.query('UPDATE dead_letters SET replayed_at = now() WHERE id = ANY($1::bigint[])', [ids]);
}

/** A re-drive's events: the dead letters' stored events, by dead-letter id. */
export function deadLetterEvents(pool: Pool) {
  return async (ids: readonly number[]): Promise<Map<number, FerryEvent>> => {
    if (ids.length === 0) return new Map();
    const { rows } = await pool.query<{ id: number; event: FerryEvent }>('SELECT id::float8 AS id, event FROM dead_letters WHERE id = ANY($1::bigint[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.event]));
  };
}

export type ReplayActivities = ReturnType<typeof createReplayActivities>;
