/**
 * Classifies a failed PostgreSQL load the way the deliver step retries: the database being away,
 * restarting, overloaded, locked or misconfigured is "retry later"; only errors the rows themselves
 * cause, which the same rows would cause again, reject the event.
 */
import type { DeliveryOutcome } from '../transport';

/**
 * SQLSTATE classes raised by the data: 22 data exception (e.g. a value out of range), 23 integrity
 * constraint violation (e.g. a NOT NULL an operator added), 54 program limit exceeded (e.g. a row too big).
 */
const DATA_ERROR_CLASSES: ReadonlySet<string> = new Set(['22', '23', '54']);

/** A unique violation on a catalog index means two sessions ran the same DDL at once: retry. */
const CATALOG_INDEX_PREFIX = 'pg_';

interface PgErrorFields {
  readonly code?: unknown;
  readonly constraint?: unknown;
  readonly message?: unknown;
}

export function classifyPostgresFailure(err: unknown, target: string): DeliveryOutcome {
  const fields = (err !== null && typeof err === 'object' ? err : {}) as PgErrorFields;
  const message = typeof fields.message === 'string' && fields.message !== '' ? fields.message : String(err);
  const code = typeof fields.code === 'string' ? fields.code : undefined;
  const sqlState = code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const described = `PostgreSQL ${target}: ${message}${code ? ` (${code})` : ''}`;
  if (sqlState !== undefined && isDataError(sqlState, fields.constraint)) return { kind: 'rejected', body: described };
  return { kind: 'retryable', error: described, throttled: false };
}

function isDataError(sqlState: string, constraint: unknown): boolean {
  if (!DATA_ERROR_CLASSES.has(sqlState.slice(0, 2))) return false;
  return !(sqlState === '23505' && typeof constraint === 'string' && constraint.startsWith(CATALOG_INDEX_PREFIX));
}
