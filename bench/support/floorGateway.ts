/**
 * The floor of the gateway's design, for the ingest benchmark's `--floor`: a bare express handler
 * that parses the JSON body, hashes each event's user to one of a few writers, group-commits the rows
 * into one PostgreSQL table (one multi-row INSERT per writer every few ms or few hundred rows), and
 * answers once the commit is done. No auth, validation, enrichment, routing, partitions or relay:
 * what is left of a request's cost when Ferry's own work is taken away. Ferry's gateway is measured
 * against it on the same machine, in the same session, with the same load.
 *
 *   node dist/bench/support/floorGateway.js   (DATABASE_URL, PORT; started by bench/ingest.js)
 */
import express from 'express';
import { GroupCommit } from '../../db/groupCommit';
import { createPool } from '../../db/pool';

/** The description of the floor: 4 writers, each committing every 3 ms or 256 rows. */
const WRITERS = 4;
const MAX_ROWS = 256;
const MAX_WAIT_MS = 3;

interface FloorRow {
  readonly user: string;
  readonly event: unknown;
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  const port = Number(process.env.PORT);
  if (!databaseUrl || !Number.isInteger(port)) throw new Error('floorGateway needs DATABASE_URL and PORT');
  const pool = createPool(databaseUrl, WRITERS + 1);
  await pool.query('CREATE TABLE IF NOT EXISTS bench_floor_log (seq bigserial PRIMARY KEY, user_key text NOT NULL, event jsonb NOT NULL)');
  const writers = Array.from(
    { length: WRITERS },
    () =>
      new GroupCommit<FloorRow>(
        async (rows) => {
          await pool.query('INSERT INTO bench_floor_log (user_key, event) SELECT * FROM unnest($1::text[], $2::jsonb[])', [rows.map((r) => r.user), rows.map((r) => JSON.stringify(r.event))]);
        },
        { maxRows: MAX_ROWS, maxWaitMs: MAX_WAIT_MS },
      ),
  );
  const writerOf = (user: string) => {
    let hash = 0;
    for (let i = 0; i < user.length; i++) hash = (hash * 31 + user.charCodeAt(i)) | 0;
    return writers[Math.abs(hash) % WRITERS]!;
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const json = express.json({ limit: '4mb' });
  const store = async (events: Array<{ userId?: string; anonymousId?: string }>, res: express.Response) => {
    const rows = events.map((event) => ({ user: String(event.userId ?? event.anonymousId ?? ''), event }));
    try {
      await writerOf(rows[0]?.user ?? '').add(rows);
      res.type('text/plain').send('OK');
    } catch {
      res.status(503).send('store unavailable');
    }
  };
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.post('/v1/track', json, (req, res) => store([req.body as { userId?: string }], res));
  app.post('/v1/batch', json, (req, res) => store((req.body as { batch: Array<{ userId?: string }> }).batch, res));
  app.listen(port, '127.0.0.1', () => process.stdout.write(`floor gateway listening on ${port}\n`));
  // A normal exit, so that `node --cpu-prof` writes its profile.
  process.once('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
