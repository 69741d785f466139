/**
 * RudderStack-style names for schemas, tables and columns: snake_case from any text, no leading digit,
 * reserved words escaped with a leading underscore, cut to PostgreSQL's identifier length.
 */
import { MAX_IDENTIFIER_LENGTH, RESERVED_NAMES, RUDDER_TABLES } from './mapping';

/**
 * `Product Viewed` → `product_viewed`, `userAgent` → `user_agent`, `HTMLParser` → `html_parser`,
 * `plan v2` → `plan_v2`, `9lives` → `_9lives`, `$$$` → `` (no name). Only ASCII letters and digits
 * survive; leading underscores are kept, so `_timestamp` stays distinct from `timestamp`.
 */
export function snakeCase(raw: string): string {
  const leading = /^_*/.exec(raw)?.[0] ?? '';
  const words: string[] = [];
  for (const run of raw.match(/[A-Za-z0-9]+/g) ?? []) {
    // Break at camelCase humps (`userAgent`) and at the end of an acronym (`HTMLParser`); digits stay
    // with the word they follow, as RudderStack's current naming does (`plan v2` → `plan_v2`).
    words.push(...run.split(/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/));
  }
  const name = words.map((w) => w.toLowerCase()).join('_');
  if (name === '') return '';
  const joined = leading + name;
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}

/** A snake_cased name made safe as a PostgreSQL identifier: reserved words escaped, length capped. */
export function safeIdentifier(snake: string): string {
  const escaped = RESERVED_NAMES.has(snake) ? `_${snake}` : snake;
  return escaped.slice(0, MAX_IDENTIFIER_LENGTH);
}

/** The column a (flattened) key lands in, or '' when the key has no letter or digit. */
export function columnName(key: string): string {
  const snake = snakeCase(key);
  return snake === '' ? '' : safeIdentifier(snake);
}

/** The `event` column's value for a track: the event name snake_cased, uncut. */
export function eventColumnValue(eventName: string): string {
  return snakeCase(eventName);
}

/** A track's event table, or '' when the name has no letter or digit. Never one of Rudder's own tables. */
export function eventTableName(eventName: string): string {
  const snake = snakeCase(eventName);
  if (snake === '') return '';
  const table = safeIdentifier(snake);
  return RUDDER_TABLES.has(table) ? `_${table}`.slice(0, MAX_IDENTIFIER_LENGTH) : table;
}

/** The configured namespace as RudderStack writes schema names; '' when it has no letter or digit. */
export function safeNamespace(raw: string): string {
  const snake = snakeCase(raw);
  return snake === '' ? '' : safeIdentifier(snake);
}
