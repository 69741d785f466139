/**
 * Splunk On-Call (VictorOps) REST endpoint bodies. On-Call ties alerts to an incident by `entity_id`:
 * a repeated CRITICAL joins the open incident rather than opening another, and RECOVERY resolves it,
 * so a retried send is harmless.
 */
import { opensIncident, type Alert } from '../../control/alert';

/** CRITICAL opens an incident and pages; RECOVERY resolves the incident with the same entity_id. */
export const VICTOROPS_MESSAGE_TYPES = { critical: 'CRITICAL', recovery: 'RECOVERY' } as const;
export type VictorOpsMessageType = (typeof VICTOROPS_MESSAGE_TYPES)[keyof typeof VICTOROPS_MESSAGE_TYPES];

export interface VictorOpsAlert {
  readonly message_type: VictorOpsMessageType;
  readonly entity_id: string;
  /** The incident's title in the timeline: the subject, the same for its open and its close. */
  readonly entity_display_name: string;
  readonly state_message: string;
  /** Seconds since the epoch, as On-Call expects. */
  readonly state_start_time: number;
  readonly monitoring_tool: 'Ferry';
}

export function victorOpsAlert(alert: Alert): VictorOpsAlert {
  return {
    message_type: opensIncident(alert.kind) ? VICTOROPS_MESSAGE_TYPES.critical : VICTOROPS_MESSAGE_TYPES.recovery,
    entity_id: alert.dedupKey,
    entity_display_name: alert.destinationId === undefined ? 'Ferry pipeline' : `Ferry destination ${alert.destinationId}`,
    state_message: alert.summary,
    state_start_time: Math.floor(alert.at / 1000),
    monitoring_tool: 'Ferry',
  };
}
