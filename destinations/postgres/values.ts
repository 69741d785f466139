/**
 * Warehouse types of event values, as RudderStack infers them, and the conversion of a value to the
 * type of the column it meets. Pure: the transform uses the first, the loader the second.
 */
import type { WarehouseColumnType } from '../../delivery/requests';
import { CONVERSIONS } from './mapping';

export type WarehouseValue = string | number | boolean;

/**
 * The subset of ISO 8601 RudderStack recognises as a timestamp: a date, optionally a time with
 * optional seconds and fraction, optionally a zone (`Z`, `+05:30`, `+0530`, `+05`).
 */
const TIMESTAMP = /^(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(\.\d+)?)?([zZ]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$/;

const MIN_TIME = Date.parse('0001-01-01T00:00:00Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The timestamp as an ISO string in UTC, or undefined when the text is not one. A time without a
 * zone is read as UTC, so the result never depends on the worker's time zone.
 */
export function parseTimestamp(text: string): string | undefined {
  const match = TIMESTAMP.exec(text);
  if (!match) return undefined;
  const [, date, hours, minutes, seconds, fraction, zone] = match;
  const iso = hours === undefined ? `${date}T00:00:00Z` : `${date}T${hours}:${minutes}:${seconds ?? '00'}${fraction ?? ''}${isoZone(zone)}`;
  const time = Date.parse(iso);
  if (Number.isNaN(time) || time < MIN_TIME || time > MAX_TIME) return undefined;
  return new Date(time).toISOString();
}

function isoZone(zone: string | undefined): string {
  if (zone === undefined || zone === 'z' || zone === 'Z') return 'Z';
  const digits = zone.slice(1).replace(':', '');
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`;
}

/**
 * A scalar's warehouse type and stored value; undefined for blank values (null, '', []), which get no
 * column. Arrays are stored as their JSON text in a string column. PostgreSQL text cannot hold NUL,
 * so NULs are dropped.
 */
export function typedValue(value: unknown): readonly [WarehouseColumnType, WarehouseValue] | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return ['boolean', value];
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    // Integers past 2^53 are not exact in JSON numbers anyway; storing them as float keeps bigint safe.
    return [Number.isSafeInteger(value) ? 'int' : 'float', value];
  }
  if (typeof value === 'string') {
    const text = withoutNul(value);
    if (text === '') return undefined;
    const timestamp = parseTimestamp(text);
    return timestamp === undefined ? ['string', text] : ['datetime', timestamp];
  }
  if (Array.isArray(value)) return value.length === 0 ? undefined : ['string', withoutNul(JSON.stringify(value))];
  return undefined;
}

function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}

export type Converted = { readonly ok: true; readonly value: WarehouseValue } | { readonly ok: false; readonly reason: string };

/** The value as the column's type stores it, or why it cannot be (then it is discarded). */
export function convertValue(columnType: WarehouseColumnType, valueType: WarehouseColumnType, value: WarehouseValue): Converted {
  if (columnType === valueType) return { ok: true, value };
  const conversion = CONVERSIONS[columnType][valueType];
  switch (conversion) {
    case 'stringify':
      return { ok: true, value: String(value) };
    case 'float':
      return { ok: true, value };
    case 'truncate': {
      const truncated = Math.trunc(Number(value));
      return Number.isSafeInteger(truncated) ? { ok: true, value: truncated } : { ok: false, reason: `${value} is out of range for ${columnType}` };
    }
    case 'json':
      return { ok: true, value: JSON.stringify(value) };
    case undefined:
      return { ok: false, reason: `incompatible schema conversion from ${columnType} to ${valueType}` };
  }
}
