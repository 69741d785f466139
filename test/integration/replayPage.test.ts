/**
 * The pages a replay reads from a real PostgreSQL log: each user's events in log order, page after
 * page, none skipped where a page is cut.
 */
import type { Pool } from 'pg';
import { createReplayActivities } from '../../activities/replay';
import type { ReplayCursor, ReplayRequest } from '../../activities/replayContract';
import { dropSchema, migratedSchema } from '../support/pipeline';

describe('replay pages', () => {
  let pool: Pool;
  let schema: string;

  beforeEach(async () => {
    ({ schema, pool } = await migratedSchema('replay_page', 2));
  });

  afterEach(() => dropSchema({ schema, pool }));

  /** Rows as earlier transactions with these ids wrote them, one event each, in this order. */
  const logRows = async (rows: ReadonlyArray<readonly [xid: number, messageId: string]>) => {
    for (const [xid, messageId] of rows) {
      await pool.query(
        `INSERT INTO event_log (xid, source_id, user_key, bucket, message_id, received_at, type, destinations, event)
         VALUES ($1::text::xid8, 'src', 'user:digits', 0, $2, now(), 'track', '["hook"]', '{}')`,
        [String(xid), messageId],
      );
    }
  };

  const readAll = async (limit: number) => {
    const { replayPage } = createReplayActivities({ pool });
    const request: ReplayRequest = { kind: 'replay', sourceId: 'src', destinationIds: ['fresh'], from: Date.now() - 60_000, to: Date.now() + 60_000 };
    const pages: string[][] = [];
    let cursor: ReplayCursor | undefined;
    for (;;) {
      const page = await replayPage({ request, cursor, limit });
      pages.push(page.rows.map((r) => r.messageId));
      if (!page.next) return pages;
      cursor = page.next;
    }
  };

  it('orders rows by transaction id as a number, not as text, and skips none where a page is cut', async () => {
    // As text, '10' < '11' < '9': text order would replay digits-1 last, or lose it at a page's end.
    await logRows([
      [9, 'digits-1'],
      [10, 'digits-2'],
      [11, 'digits-3'],
    ]);
    expect(await readAll(10)).toEqual([['digits-1', 'digits-2', 'digits-3']]);
    expect(await readAll(2)).toEqual([['digits-1', 'digits-2'], ['digits-3']]);
  });

  it('keeps log order within a transaction and across pages of one row', async () => {
    await logRows([
      [99, 'a'],
      [100, 'b'],
      [100, 'c'],
      [1000, 'd'],
    ]);
    expect(await readAll(1)).toEqual([['a'], ['b'], ['c'], ['d'], []]);
  });
});
