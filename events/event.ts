/**
 * The event model shared by every stage: gateway → workflow → transform → deliver.
 * The gateway is the only place that builds a FerryEvent; later stages treat it as read-only data.
 */

export const EVENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An event as accepted and enriched by the gateway (RudderStack's event spec plus Ferry's additions). */
export interface FerryEvent {
  readonly type: EventType;
  readonly messageId: string;
  readonly userId?: string;
  readonly anonymousId?: string;
  readonly rudderId: string;
  readonly receivedAt: string;
  readonly timestamp: string;
  readonly originalTimestamp?: string;
  readonly sentAt?: string;
  readonly request_ip?: string;
  readonly event?: string;
  readonly name?: string;
  readonly properties?: Record<string, unknown>;
  readonly traits?: Record<string, unknown>;
  readonly context?: Record<string, unknown>;
  readonly integrations?: Record<string, unknown>;
  readonly groupId?: string;
  readonly previousId?: string;
  readonly [extra: string]: unknown;
}

/** One accepted event and the destinations it must reach, fixed at the moment the gateway accepted it. */
export interface RoutedEvent {
  readonly event: FerryEvent;
  readonly destinationIds: readonly string[];
}
