/**
 * Ferry's own alert body, for any endpoint. A receiver that wants to drop a retried send can key on
 * the `idempotency-key` header, the same for every attempt at one alert.
 */
import { opensIncident, type Alert, type AlertKind } from '../../control/alert';

export const WEBHOOK_ALERT_STATUSES = { open: 'open', resolved: 'resolved' } as const;
export type WebhookAlertStatus = (typeof WEBHOOK_ALERT_STATUSES)[keyof typeof WEBHOOK_ALERT_STATUSES];

export interface WebhookAlert {
  readonly kind: AlertKind;
  /** The same for the alert that opens an incident and the one that resolves it. */
  readonly dedupKey: string;
  readonly summary: string;
  readonly destinationId?: string;
  /** When the supervisor decided it, ISO 8601. */
  readonly at: string;
  readonly status: WebhookAlertStatus;
}

export function webhookAlert(alert: Alert): WebhookAlert {
  return {
    kind: alert.kind,
    dedupKey: alert.dedupKey,
    summary: alert.summary,
    ...(alert.destinationId !== undefined && { destinationId: alert.destinationId }),
    at: new Date(alert.at).toISOString(),
    status: opensIncident(alert.kind) ? WEBHOOK_ALERT_STATUSES.open : WEBHOOK_ALERT_STATUSES.resolved,
  };
}
