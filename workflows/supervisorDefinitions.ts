/**
 * The supervisor's messages, defined once and imported by the workers (which report to it), the
 * admin API and the `ferry` CLI (which steer it), and tests.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AlertChannel } from '../config/alertEnv';
import type { Alert } from '../control/alert';
import { RESUME_LANES_SIGNAL } from '../control/state';
import type { HealthReport, SupervisorStatus, SupervisorCarry } from './supervisorState';

/** The one supervisor of a namespace and task queue (each Ferry deployment has its own task queue). */
export function supervisorWorkflowId(taskQueue: string): string {
  return `ferry/supervisor/${taskQueue}`;
}

/**
 * The supervisor runs on a task queue of its own, polled by a worker of its own in each worker
 * process: its tasks never wait behind a backlog of pipeline tasks, so it decides and answers
 * `ferry status` even when the pipeline is overloaded, which is when operators need it.
 */
export function supervisorTaskQueue(taskQueue: string): string {
  return `${taskQueue}.supervisor`;
}
export const SUPERVISOR_WORKFLOW_TYPE = 'supervisorWorkflow';

/** A worker's aggregates since its last report (every few seconds). */
export const healthSignal = defineSignal<[HealthReport]>('ferry.health');

export const statusQuery = defineQuery<SupervisorStatus>('ferry.status');

/**
 * Operators' commands; each answers with the status after it took effect. `seq` is the number of the
 * override the command already wrote (control/state.ts writeOverride), which the supervisor clears
 * once it has applied the command itself.
 */
export const degradeUpdate = defineUpdate<SupervisorStatus, [{ reason?: string; seq?: number }]>('ferry.degrade');
export const recoverUpdate = defineUpdate<SupervisorStatus, [{ seq?: number }]>('ferry.recover');
/** The destinations to pause: ids the caller has checked against the workspace. */
export const pauseUpdate = defineUpdate<SupervisorStatus, [{ destinationIds: readonly string[]; reason?: string; seq?: number }]>('ferry.pause');
export const resumeUpdate = defineUpdate<SupervisorStatus, [{ destinationIds: readonly string[]; seq?: number }]>('ferry.resume');

/** Sent to a pipeline workflow whose lanes wait on a pause: look again. */
export const resumeLanesSignal = defineSignal<[{ readonly destinationId?: string }]>(RESUME_LANES_SIGNAL);

export interface SupervisorArgs {
  /** The state handed over by the previous run. */
  readonly carry?: SupervisorCarry;
  /** The last operator command the previous run had applied. */
  readonly operatorSeq?: number;
  /** Alerts the previous run had not delivered yet. */
  readonly alerts?: ReadonlyArray<{ readonly channel: AlertChannel; readonly alert: Alert }>;
}
