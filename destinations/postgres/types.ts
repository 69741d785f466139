/**
 * PostgreSQL's side of a warehouse load: the column types Ferry creates, the schema it reads back, and
 * what one load did. The request itself is `WarehouseDeliveryRequest` in activities/types.ts, because it
 * travels through workflow history.
 */
import type { WarehouseColumnType, WarehouseDeliveryRequest, WarehouseRow } from '../../delivery/requests';

export type { WarehouseColumnType, WarehouseDeliveryRequest, WarehouseRow };

/** The PostgreSQL types Ferry gives the columns it creates. */
export type PostgresDataType = 'bigint' | 'numeric' | 'text' | 'timestamptz' | 'boolean' | 'jsonb';

/** Columns that exist, per table: column → information_schema `data_type`. */
export type ExistingSchema = Map<string, Map<string, string>>;

/** A value that could not be cast to its column's type, recorded in `rudder_discards`. */
export interface Discard {
  readonly rowId: string;
  readonly table: string;
  readonly column: string;
  readonly value: string;
  readonly receivedAt?: string;
  readonly reason: string;
}

/** What one load did, for tests and logs. */
export interface LoadSummary {
  /** False when the event's rows were already there (a redelivery): nothing was written. */
  readonly written: boolean;
  readonly discards: readonly Discard[];
  /** DDL statements run, e.g. a CREATE TABLE or ADD COLUMN. */
  readonly ddl: readonly string[];
}
