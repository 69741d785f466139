/**
 * The dead-letter table against the suite's PostgreSQL: its key, and the migration that changed it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import type { DeadLetterEntry, DeadLetterInput } from '../../activities/deadLetters';
import { createRecordDeadLetters } from '../../activities/deadLetters';
import { MIGRATIONS_DIR, migrate } from '../../db/migrate';
import type { FerryEvent } from '../../events/event';
import { testInfra, uniqueId } from '../support/pipeline';

function event(messageId: string, name: string): FerryEvent {
  return {
    type: 'track',
    messageId,
    userId: 'u1',
    event: name,
    rudderId: '00000000-0000-5000-8000-000000000000',
    receivedAt: '2026-11-26T10:00:00.000Z',
    timestamp: '2026-11-26T10:00:00.000Z',
  };
}

function deadLetter(sourceId: string, destinationId: string, messageId: string, facts: { reason: string; lastStatus: number; name: string }): DeadLetterInput {
  const entry: DeadLetterEntry = {
    event: event(messageId, facts.name),
    stage: 'deliver',
    reason: facts.reason,
    attempts: 1,
    lastStatus: facts.lastStatus,
    responseBody: `body from ${sourceId}`,
  };
  return { sourceId, destinationId, workflowId: `wf-${sourceId}`, entries: [entry] };
}

interface Row {
  id: string;
  source_id: string;
  workflow_id: string;
  reason: string;
  last_status: number;
  response_body: string;
  event: FerryEvent;
}

async function rowsFor(pool: Pool, destinationId: string, messageId: string): Promise<Row[]> {
  const { rows } = await pool.query<Row>('SELECT * FROM dead_letters WHERE destination_id = $1 AND message_id = $2 ORDER BY source_id', [destinationId, messageId]);
  return rows;
}

describe('dead letters', () => {
  let pool: Pool;

  beforeAll(async () => {
    pool = new Pool({ connectionString: testInfra().databaseUrl, max: 3 });
    await migrate(pool);
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('keeps one row per source when two sources share a destination id and a messageId', async () => {
    const record = createRecordDeadLetters({ pool });
    const [sourceA, sourceB, destinationId, messageId] = [uniqueId('srcA'), uniqueId('srcB'), uniqueId('dest'), uniqueId('msg')];

    await record(deadLetter(sourceA, destinationId, messageId, { reason: 'A refused', lastStatus: 400, name: 'from A' }));
    await record(deadLetter(sourceB, destinationId, messageId, { reason: 'B refused', lastStatus: 422, name: 'from B' }));

    const rows = await rowsFor(pool, destinationId, messageId);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ source_id: sourceA, workflow_id: `wf-${sourceA}`, reason: 'A refused', last_status: 400, response_body: `body from ${sourceA}`, event: { event: 'from A' } });
    expect(rows[1]).toMatchObject({ source_id: sourceB, workflow_id: `wf-${sourceB}`, reason: 'B refused', last_status: 422, response_body: `body from ${sourceB}`, event: { event: 'from B' } });

    // The same event aborting again for source A updates A's row in place and leaves B's alone.
    await record(deadLetter(sourceA, destinationId, messageId, { reason: 'A refused again', lastStatus: 410, name: 'from A, again' }));
    const after = await rowsFor(pool, destinationId, messageId);
    expect(after).toHaveLength(2);
    expect(after[0]).toMatchObject({ id: rows[0]!.id, source_id: sourceA, reason: 'A refused again', last_status: 410, event: { event: 'from A, again' } });
    expect(after[1]).toEqual(rows[1]);
  });

  describe('migrating a database that has only 001', () => {
    const schema = `ferry_it_dl_${process.pid}_${Date.now().toString(36)}`;
    let admin: Pool;
    let scoped: Pool;
    let only001: string;

    beforeAll(async () => {
      admin = new Pool({ connectionString: testInfra().databaseUrl, max: 1 });
      await admin.query(`CREATE SCHEMA "${schema}"`);
      // A schema of its own, first and only on the search path: schema_migrations and dead_letters
      // are created there, apart from the suite's.
      scoped = new Pool({ connectionString: testInfra().databaseUrl, max: 2, options: `-c search_path=${schema}` });
      only001 = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-migrations-'));
      fs.copyFileSync(path.join(MIGRATIONS_DIR, '001_dead_letters.sql'), path.join(only001, '001_dead_letters.sql'));
    });

    afterAll(async () => {
      await scoped?.end();
      await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin?.end();
      if (only001) fs.rmSync(only001, { recursive: true, force: true });
    });

    it('keeps the existing rows and applies the new key', async () => {
      expect(await migrate(scoped, only001)).toEqual([1]);
      const { rows: inserted } = await scoped.query<{ id: string; aborted_at: Date }>(
        `INSERT INTO dead_letters (source_id, destination_id, workflow_id, message_id, stage, reason, attempts, last_status, event)
         VALUES ('old-src', 'hook', 'wf-old', 'm1', 'deliver', 'refused before the upgrade', 2, 400, $1)
         RETURNING id, aborted_at`,
        [JSON.stringify(event('m1', 'old'))],
      );

      // 002 and whatever later migrations exist; 001 is not applied twice.
      const applied = await migrate(scoped);
      expect(applied[0]).toBe(2);
      expect(applied).not.toContain(1);

      const kept = await rowsFor(scoped, 'hook', 'm1');
      expect(kept).toEqual([
        expect.objectContaining({
          id: inserted[0]!.id,
          source_id: 'old-src',
          workflow_id: 'wf-old',
          reason: 'refused before the upgrade',
          attempts: 2,
          last_status: 400,
          aborted_at: inserted[0]!.aborted_at,
          replayed_at: null,
          event: expect.objectContaining({ event: 'old' }),
        }),
      ]);

      // Another source's dead letter for the same destination id and message is a row of its own...
      const record = createRecordDeadLetters({ pool: scoped });
      await record(deadLetter('new-src', 'hook', 'm1', { reason: 'new refused', lastStatus: 422, name: 'new' }));
      // ...and the old source's event aborting again updates the old row.
      await record(deadLetter('old-src', 'hook', 'm1', { reason: 'refused after the upgrade', lastStatus: 410, name: 'old, again' }));
      const after = await rowsFor(scoped, 'hook', 'm1');
      expect(after.map((r) => [r.id === inserted[0]!.id, r.source_id, r.reason])).toEqual([
        [false, 'new-src', 'new refused'],
        [true, 'old-src', 'refused after the upgrade'],
      ]);

      // The key is (source, destination, message) only: the old (destination, message) one is gone.
      const { rows: keys } = await scoped.query<{ def: string }>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'dead_letters'::regclass AND contype = 'u'`,
      );
      expect(keys.map((k) => k.def)).toEqual(['UNIQUE (source_id, destination_id, message_id)']);
      const { rows: indexes } = await scoped.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'dead_letters_pending_idx'`,
        [schema],
      );
      expect(indexes.map((i) => i.indexdef)).toEqual([expect.stringMatching(/\(source_id, destination_id, aborted_at\) WHERE \(replayed_at IS NULL\)$/)]);
    });
  });
});
