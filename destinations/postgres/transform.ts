import type { EventType, FerryEvent } from '../../events/event';
import { isRecord } from '../../events/json';
import type { WarehouseColumnType, WarehouseDeliveryRequest, WarehouseRow } from '../../delivery/requests';
import { TransformError, type TransformContext } from '../definition';
import { DESTINATION_NAMES } from '../names';
import type { PostgresConfig } from './config';
import {
  MAX_COLUMNS_PER_EVENT,
  RENAMED_TRAIT_COLUMNS,
  RESERVED_COLUMNS,
  TYPE_TABLES,
  USERS_COLUMNS,
  USERS_TABLE,
  standardColumns,
  type StandardColumn,
} from './mapping';
import { columnName, eventColumnValue, eventTableName } from './naming';
import { typedValue, type WarehouseValue } from './values';

type Columns = Record<string, readonly [WarehouseColumnType, WarehouseValue]>;

/**
 * The rows RudderStack's warehouse schema gives one event, as a single load (one transaction): a track
 * writes `tracks` and its event table, an identify `identifies` and `users`, the others their own table.
 */
export function transformPostgres(event: FerryEvent, config: PostgresConfig, context: TransformContext): WarehouseDeliveryRequest[] {
  const rows = rowsOf(event, config);
  for (const row of rows) {
    // +1: the loader adds uuid_ts.
    const count = Object.keys(row.columns).length + 1;
    if (count > MAX_COLUMNS_PER_EVENT) {
      throw new TransformError(`the event would write ${count} columns to ${row.table}, more than the ${MAX_COLUMNS_PER_EVENT} a warehouse event may have`, DESTINATION_NAMES.postgres);
    }
  }
  if (rows.length === 0) return [];
  return [{ kind: 'warehouse', warehouse: DESTINATION_NAMES.postgres, destinationId: context.destinationId, namespace: config.namespace, rows }];
}

function rowsOf(event: FerryEvent, config: PostgresConfig): WarehouseRow[] {
  const reserved = RESERVED_COLUMNS[event.type];
  switch (event.type) {
    case 'track': {
      const common: Columns = {};
      flatten(common, event.context, 'context_', reserved);
      setStandard(common, event, standardColumns('track'));
      const eventName = typeof event.event === 'string' ? event.event : '';
      const eventValue = eventColumnValue(eventName);
      if (eventValue !== '') common.event = ['string', eventValue];
      const rows: WarehouseRow[] = [];
      if (!config.skipTracksTable) rows.push({ table: TYPE_TABLES.track, write: 'insert', columns: { ...common } });
      const table = eventTableName(eventName);
      if (table !== '') {
        const properties: Columns = {};
        flatten(properties, event.properties, '', reserved);
        flatten(properties, event.userProperties, '', reserved);
        // The standard columns go last, so no property can overwrite them.
        rows.push({ table, write: 'insert', columns: { ...properties, ...common } });
      }
      return rows;
    }
    case 'identify': {
      const common: Columns = {};
      flatten(common, event.userProperties, '', reserved, RENAMED_TRAIT_COLUMNS);
      flatten(common, event.traits, '', reserved, RENAMED_TRAIT_COLUMNS);
      flatten(common, event.context, 'context_', reserved);
      const identifies: Columns = { ...common };
      setStandard(identifies, event, standardColumns('identify'));
      const rows: WarehouseRow[] = [{ table: TYPE_TABLES.identify, write: 'insert', columns: identifies }];
      if (!config.skipUsersTable && typeof event.userId === 'string' && event.userId.trim() !== '') {
        const users: Columns = { ...common };
        setStandard(users, event, USERS_COLUMNS);
        rows.push({ table: USERS_TABLE, write: 'merge', columns: users });
      }
      return rows;
    }
    case 'page':
    case 'screen':
      return [singleTable(event, event.type, event.properties, reserved)];
    case 'group':
    case 'alias':
      return [singleTable(event, event.type, event.traits, reserved)];
  }
}

/** Pages and screens flatten their properties, groups and aliases their traits, all with the context. */
function singleTable(event: FerryEvent, type: EventType, data: unknown, reserved: ReadonlySet<string>): WarehouseRow {
  const columns: Columns = {};
  flatten(columns, data, '', reserved);
  flatten(columns, event.context, 'context_', reserved);
  setStandard(columns, event, standardColumns(type));
  return { table: TYPE_TABLES[type], write: 'insert', columns };
}

/**
 * Adds the object's scalars as columns, nested objects flattened with `_` (`{ product: { name } }` →
 * `product_name`). Keys that would take a reserved column are dropped, as RudderStack does.
 */
function flatten(into: Columns, data: unknown, prefix: string, reserved: ReadonlySet<string>, renamed: Readonly<Record<string, string>> = {}): void {
  if (!isRecord(data)) return;
  for (const [key, value] of Object.entries(data)) {
    const path = `${prefix}${key}`;
    if (isRecord(value)) {
      flatten(into, value, `${path}_`, reserved, renamed);
      continue;
    }
    const typed = typedValue(value);
    const name = columnName(path);
    if (typed === undefined || name === '') continue;
    const target = renamed[name] ?? name;
    if (reserved.has(target)) continue;
    into[target] = typed;
  }
}

/** Sets the standard columns from the event; one with no usable value is removed, even if a property set it. */
function setStandard(into: Columns, event: FerryEvent, columns: readonly StandardColumn[]): void {
  for (const { column, from, as } of columns) {
    const value = firstPresent(event, from);
    const typed = value === undefined || typeof value === 'object' ? undefined : typedValue(value);
    if (typed === undefined) {
      delete into[column];
      continue;
    }
    // PostgreSQL text cannot hold NUL.
    into[column] = as === 'text' ? ['string', String(value).replaceAll('\u0000', '')] : typed;
  }
}

function firstPresent(event: FerryEvent, paths: readonly (readonly string[])[]): unknown {
  for (const path of paths) {
    let value: unknown = event;
    for (const key of path) value = isRecord(value) ? value[key] : undefined;
    if (value !== undefined && value !== null && value !== '') return value;
  }
  return undefined;
}
