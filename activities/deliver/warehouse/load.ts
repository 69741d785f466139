/**
 * Loads one warehouse request into PostgreSQL in one transaction: creates the schema, tables and
 * columns it lacks, fits each value to its column's type (or discards it to `rudder_discards`, as
 * RudderStack does), then inserts, skipping rows already loaded.
 */
import { FerryError } from '../../../errors/ferryError';
import type { ClientBase } from 'pg';
import type { WarehouseColumnType, WarehouseDeliveryRequest, WarehouseRow } from '../../../delivery/requests';
import { COLUMN_TYPES_IN_POSTGRES, DISCARDS_COLUMNS, DISCARDS_TABLE, LOADED_AT_COLUMN, POSTGRES_TYPES } from '../../../destinations/postgres/mapping';
import type { Discard, ExistingSchema, LoadSummary } from '../../../destinations/postgres/types';
import { convertValue } from '../../../destinations/postgres/values';

/** Column types a table needs, and whether it is keyed by `id`. */
interface TableSpec {
  readonly columns: Map<string, WarehouseColumnType>;
  readonly keyed: boolean;
}

/** A row ready to write: its values fitted to the table's column types (null where discarded). */
interface PreparedRow {
  readonly table: string;
  readonly write: WarehouseRow['write'];
  readonly values: ReadonlyMap<string, string | number | boolean | null>;
}

/** Advisory lock class for Ferry's DDL ("FERY"); the object id is the namespace's hash. */
const DDL_LOCK_CLASS = 0x46455259;

/**
 * A load failed because the warehouse's schema changed under it (e.g. a column dropped between the
 * DDL and the insert); a retry reads the schema afresh.
 */
export class WarehouseSchemaError extends FerryError {
  constructor(
    message: string,
    readonly table: string,
    readonly column: string,
  ) {
    super(message);
  }
}

export async function loadWarehouseRequest(client: ClientBase, request: WarehouseDeliveryRequest): Promise<LoadSummary> {
  const namespace = request.namespace;
  const specs = tableSpecs(request.rows);
  const ddl: string[] = [];
  await client.query('BEGIN');
  try {
    let schema = await readSchema(client, namespace, [...specs.keys(), DISCARDS_TABLE]);
    if (needsDdl(schema, specs)) {
      // Serialise DDL per namespace across workers, then look again: another load may have done it.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [DDL_LOCK_CLASS, namespace]);
      schema = await readSchema(client, namespace, [...specs.keys(), DISCARDS_TABLE]);
      ddl.push(...(await evolve(client, namespace, specs, schema)));
      schema = await readSchema(client, namespace, [...specs.keys(), DISCARDS_TABLE]);
    }

    const discards: Discard[] = [];
    const prepared = request.rows.map((row) => prepareRow(row, schema, discards));
    if (discards.length > 0) {
      const discardSpecs = new Map([[DISCARDS_TABLE, { columns: new Map(Object.entries(DISCARDS_COLUMNS)), keyed: false }]]);
      if (needsDdl(schema, discardSpecs)) {
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [DDL_LOCK_CLASS, namespace]);
        schema = await readSchema(client, namespace, [DISCARDS_TABLE]);
        ddl.push(...(await evolve(client, namespace, discardSpecs, schema)));
      }
    }

    // All rows of an event commit together, so the first one tells whether the event is already loaded.
    let written = true;
    for (const [index, row] of prepared.entries()) {
      const inserted = await writeRow(client, namespace, row);
      if (index === 0 && !inserted) {
        written = false;
        break;
      }
    }
    if (written && discards.length > 0) await writeDiscards(client, namespace, discards);
    await client.query('COMMIT');
    return { written, discards: written ? discards : [], ddl };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

function tableSpecs(rows: readonly WarehouseRow[]): Map<string, TableSpec> {
  const specs = new Map<string, TableSpec>();
  for (const row of rows) {
    let spec = specs.get(row.table);
    if (!spec) {
      spec = { columns: new Map([['id', 'string']]), keyed: true };
      specs.set(row.table, spec);
    }
    for (const [column, [type]] of Object.entries(row.columns)) if (!spec.columns.has(column)) spec.columns.set(column, type);
    spec.columns.set(LOADED_AT_COLUMN, 'datetime');
  }
  return specs;
}

async function readSchema(client: ClientBase, namespace: string, tables: readonly string[]): Promise<ExistingSchema> {
  const { rows } = await client.query<{ table_name: string; column_name: string | null; data_type: string | null }>(
    `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, NULL) AS data_type
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')`,
    [namespace, tables],
  );
  const schema: ExistingSchema = new Map();
  for (const row of rows) {
    let columns = schema.get(row.table_name);
    if (!columns) {
      columns = new Map();
      schema.set(row.table_name, columns);
    }
    if (row.column_name !== null && row.data_type !== null) columns.set(row.column_name, row.data_type);
  }
  return schema;
}

function needsDdl(schema: ExistingSchema, specs: ReadonlyMap<string, TableSpec>): boolean {
  for (const [table, spec] of specs) {
    const existing = schema.get(table);
    if (!existing) return true;
    for (const column of spec.columns.keys()) if (!existing.has(column)) return true;
  }
  return false;
}

/** Creates what is missing; existing columns keep their type, whatever the event says. */
async function evolve(client: ClientBase, namespace: string, specs: ReadonlyMap<string, TableSpec>, schema: ExistingSchema): Promise<string[]> {
  const statements: string[] = [];
  const run = async (sql: string) => {
    await client.query(sql);
    statements.push(sql);
  };
  if (schema.size === 0) {
    const { rows } = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [namespace]);
    if (rows.length === 0) await run(`CREATE SCHEMA IF NOT EXISTS ${quote(namespace)}`);
  }
  for (const [table, spec] of specs) {
    const existing = schema.get(table);
    const target = `${quote(namespace)}.${quote(table)}`;
    if (!existing) {
      const columns = [...spec.columns].map(([column, type]) =>
        column === 'id' && spec.keyed ? `${quote(column)} text PRIMARY KEY` : `${quote(column)} ${POSTGRES_TYPES[type]}`,
      );
      await run(`CREATE TABLE IF NOT EXISTS ${target} (${columns.join(', ')})`);
      continue;
    }
    const missing = [...spec.columns].filter(([column]) => !existing.has(column));
    if (missing.length > 0) {
      await run(`ALTER TABLE ${target} ${missing.map(([column, type]) => `ADD COLUMN IF NOT EXISTS ${quote(column)} ${POSTGRES_TYPES[type]}`).join(', ')}`);
    }
  }
  return statements;
}

function prepareRow(row: WarehouseRow, schema: ExistingSchema, discards: Discard[]): PreparedRow {
  const existing = schema.get(row.table);
  const values = new Map<string, string | number | boolean | null>();
  const rowId = row.columns.id?.[1];
  const receivedAt = row.columns.received_at?.[0] === 'datetime' ? String(row.columns.received_at[1]) : undefined;
  for (const [column, [type, value]] of Object.entries(row.columns)) {
    const dataType = existing?.get(column);
    if (dataType === undefined) throw new WarehouseSchemaError(`column ${row.table}.${column} disappeared during the load`, row.table, column);
    const columnType = COLUMN_TYPES_IN_POSTGRES[dataType];
    const converted = columnType === undefined ? { ok: false as const, reason: `column type ${dataType} is not one Ferry loads into` } : convertValue(columnType, type, value);
    if (converted.ok) {
      values.set(column, converted.value);
      continue;
    }
    values.set(column, null);
    discards.push({ rowId: String(rowId ?? ''), table: row.table, column, value: String(value), receivedAt, reason: converted.reason });
  }
  return { table: row.table, write: row.write, values };
}

/** Returns whether the row was new (or merged); false when an insert met a row with its id. */
async function writeRow(client: ClientBase, namespace: string, row: PreparedRow): Promise<boolean> {
  const columns = [...row.values.keys()];
  const params = [...row.values.values()];
  const names = [...columns.map(quote), quote(LOADED_AT_COLUMN)].join(', ');
  const placeholders = [...columns.map((_, i) => `$${i + 1}`), 'now()'].join(', ');
  const insert = `INSERT INTO ${quote(namespace)}.${quote(row.table)} AS t (${names}) VALUES (${placeholders})`;
  if (row.write === 'insert') {
    const result = await client.query(`${insert} ON CONFLICT (${quote('id')}) DO NOTHING`, params);
    return result.rowCount === 1;
  }
  await client.query(`${insert} ON CONFLICT (${quote('id')}) DO UPDATE SET ${mergeAssignments(columns).join(', ')}`, params);
  return true;
}

/**
 * Column by column, the newer event's value wins unless it is null; an older event (a retry arriving
 * late) only fills columns the row does not have yet.
 */
function mergeAssignments(columns: readonly string[]): string[] {
  const hasReceivedAt = columns.includes('received_at');
  const newer = `t.${quote('received_at')} IS NULL OR EXCLUDED.${quote('received_at')} >= t.${quote('received_at')}`;
  const assignments = columns
    .filter((column) => column !== 'id' && column !== 'received_at')
    .map((column) => {
      const c = quote(column);
      return hasReceivedAt ? `${c} = CASE WHEN ${newer} THEN COALESCE(EXCLUDED.${c}, t.${c}) ELSE COALESCE(t.${c}, EXCLUDED.${c}) END` : `${c} = COALESCE(EXCLUDED.${c}, t.${c})`;
    });
  if (hasReceivedAt) assignments.push(`${quote('received_at')} = GREATEST(t.${quote('received_at')}, EXCLUDED.${quote('received_at')})`);
  assignments.push(`${quote(LOADED_AT_COLUMN)} = now()`);
  return assignments;
}

async function writeDiscards(client: ClientBase, namespace: string, discards: readonly Discard[]): Promise<void> {
  const params: unknown[] = [];
  const tuples = discards.map((d) => {
    const base = params.length;
    params.push(d.rowId, d.table, d.column, d.value, d.receivedAt ?? null, d.reason);
    return `($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5}, $${base + 6}, now())`;
  });
  await client.query(
    `INSERT INTO ${quote(namespace)}.${quote(DISCARDS_TABLE)} (row_id, table_name, column_name, column_value, received_at, reason, uuid_ts) VALUES ${tuples.join(', ')}`,
    params,
  );
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
