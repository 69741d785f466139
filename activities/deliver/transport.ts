import type { Destination } from '../../config/workspace';
import type { DeliveryRequest } from '../../delivery/requests';

/** What one delivery attempt came to, classified the way RudderStack operators expect. */
export type DeliveryOutcome =
  | { readonly kind: 'delivered'; readonly status?: number }
  /** The destination refused the event for good (e.g. HTTP 4xx): abort, do not retry. */
  | {
      readonly kind: 'rejected';
      readonly status?: number;
      readonly body: string;
      /** Set when Ferry refused to send (the address policy), so the reason does not blame the destination. */
      readonly notSent?: string;
    }
  | {
      readonly kind: 'retryable';
      readonly status?: number;
      readonly body?: string;
      readonly error: string;
      /** "Later", not "broken" (HTTP 429/408): retried over the longer throttled window. */
      readonly throttled: boolean;
      readonly retryAfterMs?: number;
    };

export interface SendOptions {
  /** The destination the request is for, with its parsed config (a warehouse's connection settings). */
  readonly destination: Destination;
  readonly timeoutMs: number;
  /** Stable per event, destination and request; see idempotencyKey(). */
  readonly idempotencyKey: string;
}

/** Sends one kind of delivery request. */
export type Transport<R extends DeliveryRequest> = (request: R, options: SendOptions) => Promise<DeliveryOutcome>;

/** One transport per DeliveryRequest kind, so adding a kind without a transport fails to compile. */
export type Transports = { readonly [K in DeliveryRequest['kind']]: Transport<Extract<DeliveryRequest, { kind: K }>> };
