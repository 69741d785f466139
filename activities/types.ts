/**
 * The contract between the pipeline workflow and its activities. Workflows import this file for
 * types only, so it must stay free of runtime imports.
 */
import type { FerryEvent } from '../events/event';

/** An HTTP request a destination transformer asks the deliver step to send. */
export interface HttpDeliveryRequest {
  readonly kind: 'http';
  readonly method: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: unknown;
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
 * settings stay in the workspace config, looked up by destination id, so no password enters the
 * workflow history.
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

/** Worker-side pipeline settings, read by each workflow run at its start. */
export interface PipelineSettings {
  /** Events handed to one transform/deliver call of a lane. */
  readonly maxBatchSize: number;
  /** A run with no pending work finishes after this long. */
  readonly idleTimeoutMs: number;
  /** Continue-as-new after this many signals in one run, well under Temporal's 10 000. */
  readonly continueAsNewAfterSignals: number;
  /** Continue-as-new after this many history events even if the server has not suggested it. */
  readonly continueAsNewAfterEvents: number;
  /** Duplicate messageIds within this window are delivered once. */
  readonly dedupWindowMs: number;
  /** Bound on remembered messageIds, so the dedup set cannot outgrow the run's state. */
  readonly dedupMaxEntries: number;
  /** Start-to-close timeout of one deliver call. */
  readonly deliverTimeoutMs: number;
  /** Start-to-close timeout of one transform call. */
  readonly transformTimeoutMs: number;
  /** Backoff when an activity fails for a reason other than the destination's answer (e.g. a worker crash). */
  readonly failureBackoff: { readonly initialMs: number; readonly maxMs: number };
}

export interface TransformInput {
  readonly sourceId: string;
  readonly destinationId: string;
  readonly events: readonly FerryEvent[];
}

export type TransformOutcome =
  | { readonly messageId: string; readonly outcome: 'ok'; readonly requests: readonly DeliveryRequest[] }
  | { readonly messageId: string; readonly outcome: 'filtered'; readonly reason: string }
  | { readonly messageId: string; readonly outcome: 'aborted'; readonly reason: string };

export interface DeliverItem {
  readonly messageId: string;
  readonly requests: readonly DeliveryRequest[];
  /** Attempts already made for this event at this destination. */
  readonly attempts: number;
  /** Epoch ms of the first failed attempt, which starts the retry window. */
  readonly firstFailureAt?: number;
}

export interface DeliverInput {
  readonly sourceId: string;
  readonly destinationId: string;
  readonly items: readonly DeliverItem[];
}

export type ItemResult =
  | { readonly messageId: string; readonly outcome: 'delivered' }
  | {
      readonly messageId: string;
      readonly outcome: 'aborted';
      readonly reason: string;
      readonly status?: number;
      readonly responseBody?: string;
      readonly attempts: number;
    };

export interface DeliverResult {
  readonly results: readonly ItemResult[];
}

/** ApplicationFailure type thrown by deliver when an item must be retried later. */
export const DELIVERY_FAILED = 'DeliveryFailed';

/** Details of a DELIVERY_FAILED failure: what was settled before the failing item, and when to retry it. */
export interface DeliveryFailureDetails {
  readonly results: readonly ItemResult[];
  readonly messageId: string;
  readonly error: string;
  readonly status?: number;
  readonly retryInMs: number;
  readonly failedAt: number;
}

export interface DeadLetterEntry {
  readonly event: FerryEvent;
  readonly stage: 'transform' | 'deliver';
  readonly reason: string;
  readonly attempts: number;
  readonly requests?: readonly DeliveryRequest[];
  readonly lastStatus?: number;
  readonly lastError?: string;
  readonly responseBody?: string;
  readonly firstFailedAt?: number;
}

export interface DeadLetterInput {
  readonly sourceId: string;
  readonly destinationId: string;
  readonly workflowId: string;
  readonly entries: readonly DeadLetterEntry[];
}
