/** An alert the supervisor raises when the pipeline's mode or a destination's state changes. */

export const ALERT_KINDS = { degraded: 'degraded', recovered: 'recovered', paused: 'paused', resumed: 'resumed' } as const;
export type AlertKind = (typeof ALERT_KINDS)[keyof typeof ALERT_KINDS];

export interface Alert {
  readonly kind: AlertKind;
  /**
   * Stable per subject (`ferry/pipeline`, `ferry/destination/<id>`): a `recovered` or `resumed` alert
   * closes the incident its `degraded` or `paused` alert opened.
   */
  readonly dedupKey: string;
  readonly summary: string;
  readonly destinationId?: string;
  /** When the supervisor decided it, epoch ms. */
  readonly at: number;
}

/** Whether an alert opens an incident (trigger) or closes one (resolve). */
export function opensIncident(kind: AlertKind): boolean {
  return kind === ALERT_KINDS.degraded || kind === ALERT_KINDS.paused;
}
