/**
 * RudderStack's warehouse schema for PostgreSQL, as data: which tables each message type writes,
 * which event fields become standard columns, which names are reserved, and how a value whose type
 * differs from its column's is converted or discarded.
 * See https://www.rudderstack.com/docs/destinations/warehouse-destinations/warehouse-schema/
 */
import type { EventType } from '../../events/event';
import type { WarehouseColumnType } from '../../delivery/requests';
import type { PostgresDataType } from './types';

/** PostgreSQL truncates longer identifiers, so names are cut here to keep them comparable. */
export const MAX_IDENTIFIER_LENGTH = 63;

/** RudderStack refuses events that would add more columns than this, so one bad event cannot flood a table. */
export const MAX_COLUMNS_PER_EVENT = 200;

/**
 * Where a standard column takes its value from: the first non-blank of these event paths. Ids and
 * names are stored as text whatever they look like (a userId of `2024-01-01` is not a date); the
 * timestamps get their inferred type.
 */
export interface StandardColumn {
  readonly column: string;
  readonly from: readonly (readonly string[])[];
  readonly as: 'text' | 'inferred';
}

const text = (name: string, ...paths: string[]): StandardColumn => ({ column: name, from: paths.map((p) => p.split('.')), as: 'text' });
const inferred = (name: string, ...paths: string[]): StandardColumn => ({ column: name, from: paths.map((p) => p.split('.')), as: 'inferred' });

/** Columns of every table but `users`, from RudderStack's default column rules. */
const DEFAULT_COLUMNS: readonly StandardColumn[] = [
  text('id', 'messageId'),
  text('anonymous_id', 'anonymousId'),
  text('user_id', 'userId'),
  inferred('sent_at', 'sentAt'),
  inferred('timestamp', 'timestamp'),
  inferred('received_at', 'receivedAt'),
  inferred('original_timestamp', 'originalTimestamp'),
  text('channel', 'channel'),
  text('context_ip', 'context.ip', 'request_ip'),
  text('context_request_ip', 'request_ip'),
  text('context_passed_ip', 'context.ip'),
];

/** Columns each message type adds to the default ones. */
export const TYPE_COLUMNS: Readonly<Record<EventType, readonly StandardColumn[]>> = {
  track: [text('event_text', 'event')],
  identify: [],
  page: [text('name', 'name', 'properties.name')],
  screen: [text('name', 'name', 'properties.name')],
  group: [text('group_id', 'groupId')],
  alias: [text('previous_id', 'previousId')],
};

export function standardColumns(type: EventType): readonly StandardColumn[] {
  return [...DEFAULT_COLUMNS, ...TYPE_COLUMNS[type]];
}

/**
 * The `users` row's own columns beside the shared traits and context. Its id is the userId and it
 * has no anonymous_id, as RudderStack documents.
 */
export const USERS_COLUMNS: readonly StandardColumn[] = [
  text('id', 'userId'),
  inferred('received_at', 'receivedAt'),
  text('context_ip', 'context.ip', 'request_ip'),
  text('context_request_ip', 'request_ip'),
  text('context_passed_ip', 'context.ip'),
  inferred('sent_at', 'sentAt'),
  inferred('timestamp', 'timestamp'),
  inferred('original_timestamp', 'originalTimestamp'),
];

/** The table each message type writes (a track also writes its event table, an identify `users`). */
export const TYPE_TABLES: Readonly<Record<EventType, string>> = {
  track: 'tracks',
  identify: 'identifies',
  page: 'pages',
  screen: 'screens',
  group: 'groups',
  alias: 'aliases',
};

export const USERS_TABLE = 'users';

/** Set by the loader when it writes the row, never by the event. */
export const LOADED_AT_COLUMN = 'uuid_ts';

/**
 * Column names RudderStack keeps for itself per message type: a property or trait that would land on
 * one of them is dropped. `event` (the event table's name) and the loader's `uuid_ts` are reserved too.
 */
const reserved = (type: EventType): ReadonlySet<string> =>
  new Set([...standardColumns(type).map((c) => c.column), LOADED_AT_COLUMN, ...(type === 'track' ? ['event'] : [])]);

export const RESERVED_COLUMNS: Readonly<Record<EventType, ReadonlySet<string>>> = {
  track: reserved('track'),
  identify: reserved('identify'),
  page: reserved('page'),
  screen: reserved('screen'),
  group: reserved('group'),
  alias: reserved('alias'),
};

/** An identify trait named like the user_id column is kept under this name instead of being dropped. */
export const RENAMED_TRAIT_COLUMNS: Readonly<Record<string, string>> = { user_id: '_user_id' };

/** Event tables named like these get a leading underscore, so no event can write into them. */
export const RUDDER_TABLES: ReadonlySet<string> = new Set(['tracks', 'identifies', 'users', 'pages', 'screens', 'groups', 'aliases', 'accounts']);

/**
 * PostgreSQL's reserved key words (RudderStack's list for POSTGRES) and its system column names,
 * which no user column may take. A name equal to one of these gets a leading underscore.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'authorization', 'between',
  'binary', 'both', 'case', 'cast', 'check', 'collate', 'column', 'constraint', 'create', 'cross',
  'current_date', 'current_role', 'current_time', 'current_timestamp', 'current_user', 'default',
  'deferrable', 'desc', 'distinct', 'do', 'else', 'end', 'except', 'false', 'for', 'foreign', 'freeze',
  'from', 'full', 'grant', 'group', 'having', 'ilike', 'in', 'initially', 'inner', 'intersect', 'into',
  'is', 'isnull', 'join', 'leading', 'left', 'like', 'limit', 'localtime', 'localtimestamp', 'natural',
  'new', 'not', 'notnull', 'null', 'off', 'offset', 'old', 'on', 'only', 'or', 'order', 'outer', 'overlaps',
  'placing', 'primary', 'references', 'right', 'select', 'session_user', 'similar', 'some', 'symmetric',
  'table', 'then', 'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'verbose', 'when', 'where',
  // System columns: CREATE TABLE and ADD COLUMN refuse these names.
  'ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid',
]);

/** How RudderStack's types are stored in PostgreSQL. */
export const POSTGRES_TYPES: Readonly<Record<WarehouseColumnType, PostgresDataType>> = {
  int: 'bigint',
  float: 'numeric',
  string: 'text',
  datetime: 'timestamptz',
  boolean: 'boolean',
  json: 'jsonb',
};

/**
 * What an existing column holds, read from information_schema's `data_type`. The warehouse is the
 * source of truth: a column an operator retyped is loaded as its new type.
 */
export const COLUMN_TYPES_IN_POSTGRES: Readonly<Record<string, WarehouseColumnType>> = {
  bigint: 'int',
  integer: 'int',
  smallint: 'int',
  numeric: 'float',
  real: 'float',
  'double precision': 'float',
  text: 'string',
  'character varying': 'string',
  character: 'string',
  'timestamp with time zone': 'datetime',
  'timestamp without time zone': 'datetime',
  date: 'datetime',
  boolean: 'boolean',
  jsonb: 'json',
  json: 'json',
};

/**
 * How a value is converted to fit a column of another type:
 * - `stringify`: its text (any value fits a string column);
 * - `float`: an int is stored in a float column as is;
 * - `truncate`: a float in an int column loses its fraction, as RudderStack's loader does;
 * - `json`: encoded as a JSON value.
 */
export type Conversion = 'stringify' | 'float' | 'truncate' | 'json';

/**
 * Existing column type → incoming value type → conversion. A pair that is missing cannot be cast:
 * the column stays, the row gets NULL there, and the value goes to `rudder_discards`.
 */
export const CONVERSIONS: Readonly<Record<WarehouseColumnType, Partial<Record<WarehouseColumnType, Conversion>>>> = {
  string: { int: 'stringify', float: 'stringify', boolean: 'stringify', datetime: 'stringify', json: 'stringify' },
  float: { int: 'float' },
  int: { float: 'truncate' },
  json: { int: 'json', float: 'json', boolean: 'json', string: 'json', datetime: 'json' },
  datetime: {},
  boolean: {},
};

/** RudderStack's table of values that did not fit their column. */
export const DISCARDS_TABLE = 'rudder_discards';

export const DISCARDS_COLUMNS: Readonly<Record<string, WarehouseColumnType>> = {
  column_name: 'string',
  column_value: 'string',
  received_at: 'datetime',
  row_id: 'string',
  table_name: 'string',
  uuid_ts: 'datetime',
  reason: 'string',
};
