/**
 * PagerDuty Events API v2 bodies. PagerDuty deduplicates on `dedup_key`: a repeated trigger joins the
 * open alert instead of paging again, and a repeated resolve is dropped, so a retried send is harmless.
 */
import { createHash } from 'node:crypto';
import { ALERT_KINDS, opensIncident, type Alert, type AlertKind } from '../../control/alert';

/** Longest `payload.summary` PagerDuty accepts. */
export const PAGERDUTY_MAX_SUMMARY = 1024;
/** Longest `dedup_key` PagerDuty accepts. */
export const PAGERDUTY_MAX_DEDUP_KEY = 255;

/** A paused pipeline or destination holds events back (error); a degraded one is losing time on them (critical). */
const SEVERITY = { [ALERT_KINDS.degraded]: 'critical', [ALERT_KINDS.paused]: 'error' } as const;

export interface PagerDutyTrigger {
  readonly routing_key: string;
  readonly event_action: 'trigger';
  readonly dedup_key: string;
  readonly payload: {
    readonly summary: string;
    readonly source: 'ferry';
    readonly severity: (typeof SEVERITY)[keyof typeof SEVERITY];
    readonly timestamp: string;
    readonly component: string;
    readonly group: string;
    readonly class: AlertKind;
    readonly custom_details: { readonly kind: AlertKind; readonly destinationId?: string };
  };
  readonly client: 'Ferry';
}

/** PagerDuty ignores a payload on resolve, so none is sent. */
export interface PagerDutyResolve {
  readonly routing_key: string;
  readonly event_action: 'resolve';
  readonly dedup_key: string;
}

export function pagerDutyEvent(routingKey: string, alert: Alert): PagerDutyTrigger | PagerDutyResolve {
  const dedupKey = pagerDutyDedupKey(alert.dedupKey);
  if (!opensIncident(alert.kind)) return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
  const destination = alert.destinationId;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: truncate(alert.summary, PAGERDUTY_MAX_SUMMARY),
      source: 'ferry',
      severity: SEVERITY[alert.kind as keyof typeof SEVERITY],
      timestamp: new Date(alert.at).toISOString(),
      component: destination ?? 'pipeline',
      group: destination === undefined ? 'pipeline' : 'destinations',
      class: alert.kind,
      custom_details: { kind: alert.kind, ...(destination !== undefined && { destinationId: destination }) },
    },
    client: 'Ferry',
  };
}

/**
 * The key as is when PagerDuty takes it; a longer one (a long destination id) is cut and suffixed with
 * a hash of the whole key, so it stays the same for the trigger and its resolve, and distinct per subject.
 */
export function pagerDutyDedupKey(key: string): string {
  if (key.length <= PAGERDUTY_MAX_DEDUP_KEY) return key;
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `${key.slice(0, PAGERDUTY_MAX_DEDUP_KEY - hash.length - 1)}~${hash}`;
}

/** Cut to `max` UTF-16 units with an ellipsis, never splitting a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, '')}…`;
}
