/**
 * The contract between the pipeline workflow and its activities: what crosses the boundary, in both
 * directions. Workflows import it, so it must stay free of runtime imports.
 */
import type { DeliveryRequest } from '../delivery/requests';
import type { FerryEvent } from '../events/event';


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
  /** The lane's workflow: with the destination, it keys the lane's recorded progress. */
  readonly workflowId: string;
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
