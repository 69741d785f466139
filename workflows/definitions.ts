import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RoutedEvent } from '../events/event';
import type { LaneSnapshot } from './state';

/** Events accepted by the gateway for one user, in the order the gateway received them. */
export interface EventsSignalInput {
  readonly events: readonly RoutedEvent[];
}

export const eventsSignal = defineSignal<[EventsSignalInput]>('ferry.events');

/** Each lane's depth, head event, attempts and last error, for operators. */
export const lanesQuery = defineQuery<LaneSnapshot[]>('ferry.lanes');

export const PIPELINE_WORKFLOW_TYPE = 'pipelineWorkflow';
