/**
 * Replays, re-drives and resets, for the `ferry` CLI and the admin API: each replay and re-drive is a
 * workflow (`ferry/replay/<id>`, `ferry/redrive/<id>`) that an operator starts, watches and cancels;
 * a reset is Temporal's reset of one user workflow.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import Long from 'long';
import type { Pool } from 'pg';
import type { RedriveRequest, ReplayPlan, ReplayRequest } from '../activities/replayContract';
import { FerryError } from '../errors/ferryError';
import {
  replayProgressQuery,
  replayWorkflowId,
  REPLAY_WORKFLOW_TYPE,
  type ReplayArgs,
  type ReplayKind,
  type ReplayPacing,
  type ReplayProgress,
  type ReplayResult,
} from '../workflows/replayDefinitions';
import { UnknownDestinationError } from './supervisorClient';

/** How long reprocess waits for a run's first workflow task to finish before it refuses. */
const FIRST_TASK_WAIT_MS = 10_000;

/** @default eventsPerSecond 200, maxLiveBacklog 1000 */
export const DEFAULT_REPLAY_PACING: ReplayPacing = { eventsPerSecond: 200, maxLiveBacklog: 1_000 };

/** A source id that the workspace does not have. */
export class UnknownSourceError extends FerryError {
  constructor(readonly sourceId: string) {
    super(`unknown source "${sourceId}": it is not in the workspace`);
  }
}

/** A replay or re-drive asked for with arguments that cannot work (an empty range, a bad rate). */
export class ReplayRequestError extends FerryError {}

/** No replay, re-drive or workflow of that id. */
export class JobNotFoundError extends FerryError {
  constructor(readonly workflowId: string) {
    super(`no workflow "${workflowId}"`);
  }
}

export interface ReplayOptions {
  readonly sourceId: string;
  /** One destination; every destination of the source when unset. */
  readonly destinationId?: string;
  readonly userKey?: string;
  readonly from: Date;
  readonly to: Date;
  readonly dryRun?: boolean;
  readonly pacing?: Partial<ReplayPacing>;
}

export interface RedriveOptions {
  readonly destinationId: string;
  readonly sourceId?: string;
  readonly since?: Date;
  readonly dryRun?: boolean;
  readonly pacing?: Partial<ReplayPacing>;
}

export const JOB_STATES = ['running', 'completed', 'cancelled', 'failed', 'terminated', 'timed out'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** `ferry replay-status --json` and `GET /admin/jobs/:id`. */
export interface JobStatus {
  readonly workflowId: string;
  readonly state: JobState;
  /** Absent when the workflow could not be queried (no worker running). */
  readonly progress?: ReplayProgress;
  /** The counts per user and destination, for a finished dry run. */
  readonly plan?: ReplayPlan;
}

export interface ResetResult {
  readonly workflowId: string;
  readonly previousRunId: string;
  readonly runId: string;
  /** The workflow task the run was reset to. */
  readonly toEventId: number;
  /** Delivery records removed, so the reset run sends its events again. */
  readonly clearedDeliveries: number;
}

/** The operations; the CLI and the admin API depend on this, not on the implementation. */
export interface ReplayOps {
  replay(options: ReplayOptions): Promise<JobStatus>;
  redrive(options: RedriveOptions): Promise<JobStatus>;
  job(workflowId: string): Promise<JobStatus>;
  cancel(workflowId: string): Promise<JobStatus>;
  reprocess(workflowId: string, toEventId?: number): Promise<ResetResult>;
}

export interface ReplayClientOptions {
  readonly client: Client;
  readonly taskQueue: string;
  /** Each source's destination ids, from the workspace. */
  readonly sources: ReadonlyMap<string, readonly string[]>;
  /** Ferry's database: a reset clears the user workflow's delivery records there. */
  readonly pool?: Pool;
}

const STATE_OF: Record<string, JobState> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  CANCELLED: 'cancelled',
  FAILED: 'failed',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed out',
  CONTINUED_AS_NEW: 'running',
};

export class ReplayClient implements ReplayOps {
  constructor(private readonly options: ReplayClientOptions) {}

  async replay(options: ReplayOptions): Promise<JobStatus> {
    const destinations = this.options.sources.get(options.sourceId);
    if (!destinations) throw new UnknownSourceError(options.sourceId);
    if (options.destinationId !== undefined && !destinations.includes(options.destinationId)) throw new UnknownDestinationError(options.destinationId);
    const [from, to] = [options.from.getTime(), options.to.getTime()];
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) throw new ReplayRequestError('the range is empty: --from must be before --to');
    const request: ReplayRequest = {
      kind: 'replay',
      sourceId: options.sourceId,
      destinationIds: options.destinationId === undefined ? [...destinations] : [options.destinationId],
      from,
      to,
      ...(options.userKey ? { userKey: options.userKey } : {}),
    };
    return this.start(request, options);
  }

  async redrive(options: RedriveOptions): Promise<JobStatus> {
    const known = [...this.options.sources].filter(([id, destinations]) => (options.sourceId === undefined || id === options.sourceId) && destinations.includes(options.destinationId));
    if (options.sourceId !== undefined && !this.options.sources.has(options.sourceId)) throw new UnknownSourceError(options.sourceId);
    if (known.length === 0) throw new UnknownDestinationError(options.destinationId);
    const since = options.since?.getTime();
    if (since !== undefined && !Number.isFinite(since)) throw new ReplayRequestError('--since is not a time');
    const request: RedriveRequest = {
      kind: 'redrive',
      destinationId: options.destinationId,
      ...(options.sourceId ? { sourceId: options.sourceId } : {}),
      ...(since !== undefined ? { since } : {}),
    };
    return this.start(request, options);
  }

  async job(workflowId: string): Promise<JobStatus> {
    const handle = this.options.client.workflow.getHandle(workflowId);
    let state: JobState;
    try {
      state = STATE_OF[(await handle.describe()).status.name] ?? 'failed';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new JobNotFoundError(workflowId);
      throw err;
    }
    if (state === 'completed') {
      const result = (await handle.result()) as ReplayResult;
      return { workflowId, state, progress: result.progress, ...(result.plan ? { plan: result.plan } : {}) };
    }
    const progress = await this.options.client
      .withDeadline(Date.now() + 5_000, () => handle.query(replayProgressQuery))
      .catch(() => undefined);
    return { workflowId, state, ...(progress ? { progress } : {}) };
  }

  async cancel(workflowId: string): Promise<JobStatus> {
    const before = await this.job(workflowId);
    if (before.state !== 'running') return before;
    await this.options.client.workflow.getHandle(workflowId).cancel();
    // The job stops at its next await: whatever it was sending is settled, nothing more starts.
    for (let i = 0; i < 50; i++) {
      const now = await this.job(workflowId);
      if (now.state !== 'running') return now;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return this.job(workflowId);
  }

  /**
   * Resets a user workflow to a workflow task (the first of its current run by default), so the
   * events it received after that point are processed again: their delivery records are cleared
   * first, or the delivery step would skip them as already sent. Signals after the point are kept.
   */
  async reprocess(workflowId: string, toEventId?: number): Promise<ResetResult> {
    if (!this.options.pool) throw new ReplayRequestError('reprocess needs DATABASE_URL: the delivery records to clear are in Ferry’s database');
    const { client } = this.options;
    const handle = client.workflow.getHandle(workflowId);
    let runId: string;
    try {
      runId = (await handle.describe()).runId;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new JobNotFoundError(workflowId);
      throw err;
    }
    const finishedTasks = async () => {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      return (history.events ?? [])
        .filter((e) => e.workflowTaskCompletedEventAttributes || e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes)
        .map((e) => Number(e.eventId));
    };
    let finishes = await finishedTasks();
    // A run's first task can still be open: its deliveries run inside it and are recorded when it
    // completes. Give it a moment rather than refuse a reprocess asked for right after the events.
    for (const deadline = Date.now() + FIRST_TASK_WAIT_MS; finishes.length === 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 200));
      finishes = await finishedTasks();
    }
    const target = toEventId ?? finishes[0];
    if (target === undefined || !finishes.includes(target)) {
      throw new ReplayRequestError(
        toEventId === undefined ? `workflow "${workflowId}" has no finished workflow task to reset to` : `event ${toEventId} of "${workflowId}" is not a finished workflow task (try one of ${finishes.slice(0, 10).join(', ')})`,
      );
    }
    const cleared = await this.options.pool.query('DELETE FROM delivery_outcomes WHERE workflow_id = $1', [workflowId]);
    const reset: { runId?: string | null } = await client.workflowService.resetWorkflowExecution({
      namespace: client.options.namespace,
      workflowExecution: { workflowId, runId },
      reason: `ferry reprocess to event ${target}`,
      workflowTaskFinishEventId: Long.fromNumber(target),
      requestId: randomUUID(),
    });
    return { workflowId, previousRunId: runId, runId: reset.runId ?? '', toEventId: target, clearedDeliveries: cleared.rowCount ?? 0 };
  }

  private async start(request: ReplayRequest | RedriveRequest, options: { dryRun?: boolean; pacing?: Partial<ReplayPacing> }): Promise<JobStatus> {
    const pacing = { ...DEFAULT_REPLAY_PACING, ...options.pacing };
    if (!(pacing.eventsPerSecond > 0) || !(pacing.maxLiveBacklog >= 0)) throw new ReplayRequestError('the rate must be above 0 and the live backlog at least 0');
    const kind: ReplayKind = request.kind;
    const workflowId = replayWorkflowId(kind, `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`);
    const args: ReplayArgs = { request, pacing, ...(options.dryRun ? { dryRun: true } : {}) };
    await this.options.client.workflow.start(REPLAY_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: this.options.taskQueue,
      args: [args],
      staticSummary: summaryOf(request, options.dryRun === true),
    });
    return { workflowId, state: 'running' };
  }
}

function summaryOf(request: ReplayRequest | RedriveRequest, dryRun: boolean): string {
  const what =
    request.kind === 'replay'
      ? `replay ${request.sourceId} → ${request.destinationIds.join(', ')} from ${new Date(request.from).toISOString()} to ${new Date(request.to).toISOString()}${request.userKey ? ` for ${request.userKey}` : ''}`
      : `re-drive the dead letters of ${request.destinationId}${request.since !== undefined ? ` since ${new Date(request.since).toISOString()}` : ''}`;
  return dryRun ? `dry run: ${what}` : what;
}
