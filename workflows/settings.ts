/**
 * The workflows' settings. The worker reads them from its environment (FERRY_* variables)
 * and each workflow run asks for them once, at its start, through the worker's settings activity.
 */

import type { AlertChannel } from '../config/alertEnv';
import type { SupervisorSettings } from './supervisorState';

export interface PipelineSettings {
  /** Events handed to one transform/deliver call of a lane. */
  readonly maxBatchSize: number;
  /** A run with no pending work finishes after this long. */
  readonly idleTimeoutMs: number;
  /** Continue-as-new after this many signals in one run, well under Temporal's 10 000. */
  readonly continueAsNewAfterSignals: number;
  /** Continue-as-new after this many history events even if the server has not suggested it. */
  readonly continueAsNewAfterEvents: number;
  /** Duplicate messageIds within this window are delivered once. */
  readonly dedupWindowMs: number;
  /** Bound on remembered messageIds, so the dedup set cannot outgrow the run's state. */
  readonly dedupMaxEntries: number;
  /** Start-to-close timeout of one delivery step (read from the log, transform, deliver). */
  readonly deliverTimeoutMs: number;
  /**
   * A workflow about to wait while holding events logged longer ago than this registers a hold, so
   * that log retention keeps their partition until they are delivered.
   */
  readonly logHoldAfterMs: number;
  /** Backoff when an activity fails for a reason other than the destination's answer (e.g. a worker crash). */
  readonly failureBackoff: { readonly initialMs: number; readonly maxMs: number };
}


/**
 * The activity through which a run reads its settings. The worker process registers it beside the
 * pipeline's activities, because the settings are the worker's own.
 */
export interface SettingsActivity {
  pipelineSettings(): Promise<PipelineSettings>;
}

/** The supervisor's settings, from the worker's environment, and the alert channels it configures. */
export interface SupervisorSettingsActivity {
  supervisorSettings(): Promise<{ settings: SupervisorSettings; alertChannels: AlertChannel[] }>;
}
