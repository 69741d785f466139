import { FerryError } from '../errors/ferryError';
import type { z } from 'zod';
import type { EventType, FerryEvent } from '../events/event';
import type { DeliveryRequest, HttpDeliveryRequest } from '../delivery/requests';

/** What every destination folder exports: its config schema and a pure transform. */
export interface DestinationDefinition<C = unknown> {
  /** `destinationDefinition.name` in the workspace config, e.g. `WEBHOOK`. */
  readonly name: string;
  readonly configSchema: z.ZodType<C>;
  /** Message types this destination takes; others are recorded as filtered, not failed. */
  readonly supportedMessageTypes: readonly EventType[];
  /** Builds the requests for one event. Throws TransformError when the event itself is unusable. */
  transform(event: FerryEvent, config: C, context: TransformContext): readonly DeliveryRequest[];
  /**
   * Adds the destination's credentials to one of its transform's HTTP requests, as the deliver step
   * sends it. A transform's requests carry no credentials: they are stored with dead letters and can
   * reach workflow history, so the keys are added only on the way to the wire. Returns a new request
   * and leaves the given one as it is. @default the request unchanged (no credentials)
   */
  authorize?(request: HttpDeliveryRequest, config: C): HttpDeliveryRequest;
  /** The config's credential values, for checks that they never reach stored data. @default none */
  secrets?(config: C): readonly string[];
}

export interface TransformContext {
  readonly destinationId: string;
  /**
   * Epoch milliseconds to judge an event's age by, for destinations that drop old events (GA4). Read
   * here rather than from the clock so that transforms stay pure.
   * @default the time Ferry received the event (`Date.parse(event.receivedAt)`)
   */
  readonly now?: number;
}

/**
 * The event cannot be mapped for this destination (e.g. a required field is missing). The event is
 * aborted for this destination with this message as the reason; retrying would not help.
 */
export class TransformError extends FerryError {
  constructor(
    message: string,
    readonly destination: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function defineDestination<C>(definition: DestinationDefinition<C>): DestinationDefinition<C> {
  return definition;
}
