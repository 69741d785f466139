/**
 * The contract between the pipeline workflow and its delivery step: what crosses the boundary, in
 * both directions. Only references and outcomes cross it; the step reads each event from the log.
 * Workflows import this file, so it must stay free of runtime imports.
 */

/** A lane item the step is asked to deliver. */
export interface StepItem {
  /** Where the event is in the log. */
  readonly seq: number;
  readonly messageId: string;
  /** Attempts already made for this event at this destination. */
  readonly attempts: number;
  /** Epoch ms of the first failed attempt, which starts the retry window. */
  readonly firstFailureAt?: number;
}

export interface DeliverStepInput {
  readonly sourceId: string;
  /** The lane's workflow: with the destination, it keys the lane's recorded progress. */
  readonly workflowId: string;
  readonly destinationId: string;
  /** The lane's head items, in order. */
  readonly items: readonly StepItem[];
}

/** How one item ended at this destination. Aborted items are in the dead-letter table by then. */
export type ItemResult =
  | { readonly messageId: string; readonly outcome: 'delivered' }
  | { readonly messageId: string; readonly outcome: 'filtered'; readonly reason: string }
  | {
      readonly messageId: string;
      readonly outcome: 'aborted';
      readonly stage: 'transform' | 'deliver';
      readonly reason: string;
      readonly status?: number;
      readonly attempts: number;
    };

/** Results for a prefix of the items, in order: the step may stop early (see the user-transformation budget). */
export interface DeliverStepResult {
  readonly results: readonly ItemResult[];
  /**
   * Set when the step stopped because the destination (or the whole pipeline) is paused: no attempt
   * was made for the remaining items, and the lane is registered to be woken on resume.
   */
  readonly paused?: { readonly reason: string };
}

/** ApplicationFailure type thrown by the step when an item must be retried later. */
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
