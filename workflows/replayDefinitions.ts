/**
 * Replays and re-drives: what an operator asks for, and what the replay workflow reports. Defined
 * once and imported by the workflow, the admin API, the `ferry` CLI and tests.
 */
import { defineQuery } from '@temporalio/workflow';
import type { RedriveRequest, ReplayCursor, ReplayPlan, ReplayRequest } from '../activities/replayContract';

export const REPLAY_WORKFLOW_TYPE = 'replayWorkflow';

/** Where each kind of job reads its events: a range of the log, or a destination's dead letters. */
export const REPLAY_KINDS = ['replay', 'redrive'] as const;
export type ReplayKind = (typeof REPLAY_KINDS)[number];

/** Replay and re-drive workflows read as `ferry/replay/<id>` and `ferry/redrive/<id>` in the Web UI. */
export function replayWorkflowId(kind: ReplayKind, id: string): string {
  return `ferry/${kind}/${id}`;
}

export interface ReplayPacing {
  /** Events sent per second at most. @default 200 */
  readonly eventsPerSecond: number;
  /** While the live log backlog (rows not yet relayed) is above this, the job waits. @default 1000 */
  readonly maxLiveBacklog: number;
}

export interface ReplayArgs {
  readonly request: ReplayRequest | RedriveRequest;
  readonly pacing: ReplayPacing;
  /** Count what would be sent, per user and destination, and send nothing. @default false */
  readonly dryRun?: boolean;
  /** Carried over continue-as-new; absent on the first run. */
  readonly carry?: ReplayCarry;
}

export interface ReplayCounts {
  readonly delivered: number;
  readonly filtered: number;
  readonly aborted: number;
}

export interface ReplayCarry {
  readonly total: number;
  readonly cursor?: ReplayCursor;
  readonly counts: ReplayCounts;
  readonly startedAt: number;
}

export const REPLAY_STATUSES = ['planning', 'running', 'waiting', 'completed'] as const;
export type ReplayStatus = (typeof REPLAY_STATUSES)[number];

export interface ReplayProgress {
  readonly kind: ReplayKind;
  readonly status: ReplayStatus;
  /** Why the job waits (a paused destination, degraded mode, live backlog), when it does. */
  readonly waitingFor?: string;
  /** Deliveries in the job, and settled so far. */
  readonly total: number;
  readonly done: number;
  readonly counts: ReplayCounts;
  readonly startedAt: string;
  /** Deliveries settled per second since the start. */
  readonly ratePerSecond: number;
  readonly etaSeconds?: number;
}

/** What the workflow returns: its last progress, and the plan of a dry run. */
export interface ReplayResult {
  readonly progress: ReplayProgress;
  readonly plan?: ReplayPlan;
}

export const replayProgressQuery = defineQuery<ReplayProgress>('ferry.replayProgress');
