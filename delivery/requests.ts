/**
 * What a destination's transform asks the deliver step to send. Destinations build these from events;
 * the activities' transports send them. Pure data, no runtime imports.
 */

/** An HTTP request a destination transformer asks the deliver step to send. */
export type HttpDeliveryRequest = HttpRequestTarget & (JsonRequestBody | FormRequestBody);

interface HttpRequestTarget {
  readonly kind: 'http';
  readonly method: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A body sent as JSON text (`JSON.stringify(body)`), or no body at all. */
interface JsonRequestBody {
  /**
   * How `body` goes on the wire: `json`, or `form` for vendor APIs that document form fields
   * (`application/x-www-form-urlencoded`), such as Amplitude's User Mapping and Group Identify APIs.
   * @default json
   */
  readonly encoding?: 'json';
  readonly body?: unknown;
}

/**
 * A body sent as `application/x-www-form-urlencoded` fields (URLSearchParams). Flat strings only: a
 * field holding structured data (e.g. Amplitude's `mapping`) carries it as JSON text.
 */
interface FormRequestBody {
  readonly encoding: 'form';
  readonly body: Readonly<Record<string, string>>;
}

/** RudderStack's warehouse column types; each warehouse maps them to its own. */
export type WarehouseColumnType = 'int' | 'float' | 'string' | 'datetime' | 'boolean' | 'json';

/** One row for one table: column → [type inferred from the event, value]. Blank values are left out. */
export interface WarehouseRow {
  readonly table: string;
  /** `insert` keeps the first row per id (a messageId); `merge` upserts by id, newest values winning column by column. */
  readonly write: 'insert' | 'merge';
  readonly columns: Readonly<Record<string, readonly [WarehouseColumnType, string | number | boolean]>>;
}

/**
 * Rows a warehouse destination asks the deliver step to load, all in one transaction. Connection
 * settings stay in the workspace config, looked up by destination id, so no password travels with
 * the request.
 */
export interface WarehouseDeliveryRequest {
  readonly kind: 'warehouse';
  readonly warehouse: 'POSTGRES';
  readonly destinationId: string;
  /** The schema the tables live in. */
  readonly namespace: string;
  readonly rows: readonly WarehouseRow[];
}

export type DeliveryRequest = HttpDeliveryRequest | WarehouseDeliveryRequest;
