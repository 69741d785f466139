/**
 * What operators do to the pipeline, in one place for the `ferry` CLI and the gateway's admin API:
 * read the status, enter and leave degraded mode, pause and resume destinations, list stuck users.
 * Commands go to the supervisor workflow as updates (it is started if it is not running); the backlog
 * is read from the log's relay bookkeeping.
 */
import { WithStartWorkflowOperation, WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { wakeParkedLanes } from '../activities/control';
import { readControl, writeOverride, type DestinationState, type PipelineMode } from '../control/state';
import { FerryError } from '../errors/ferryError';
import { searchAttributes } from '../temporal/names';
import {
  degradeUpdate,
  pauseUpdate,
  recoverUpdate,
  resumeUpdate,
  statusQuery,
  supervisorTaskQueue,
  supervisorWorkflowId,
  SUPERVISOR_WORKFLOW_TYPE,
} from '../workflows/supervisorDefinitions';
import type { DestinationStatus, SupervisorStatus } from '../workflows/supervisorState';

/** `ferry status --json` and `GET /admin/status`: scripts and monitoring rely on these names. */
export interface FerryStatus {
  readonly mode: PipelineMode;
  readonly modeBy?: 'operator' | 'auto';
  readonly modeReason?: string;
  readonly modeSince?: string;
  /** Every destination of the workspace, and any the supervisor still knows of. */
  readonly destinations: ReadonlyArray<DestinationStatus & { readonly state: DestinationState }>;
  /** Events stored in the log but not yet handed to their users' workflows. */
  readonly backlog: { readonly unrelayedRows: number; readonly oldestAt?: string; readonly relays: number };
  readonly recentSelfFailures: number;
  readonly recentWorkerStarts: number;
  /**
   * `published` when the supervisor did not answer in time and this is what it last wrote to the
   * control tables (which every worker obeys); recent counts are then unknown. @default from the supervisor
   */
  readonly source?: 'published';
}

/** How long `status` waits for the supervisor before it reports the published state instead. */
const STATUS_QUERY_TIMEOUT_MS = 5_000;
/** How long a command whose override is written waits for the supervisor to confirm it. */
const COMMAND_TIMEOUT_MS = 5_000;
/** Parked lanes a resume wakes by itself, oldest first; the supervisor wakes the others. */
const WAKE_AT_ONCE = 200;

export interface StuckUser {
  readonly workflowId: string;
  readonly sourceId?: string;
  readonly userKey?: string;
  readonly startedAt?: string;
}

/** A destination id that the workspace does not have. */
export class UnknownDestinationError extends FerryError {
  constructor(readonly destinationId: string) {
    super(`unknown destination "${destinationId}": it is not in the workspace`);
  }
}

/** The supervisor (or Temporal) did not answer. */
export class SupervisorUnavailableError extends FerryError {}

/** The operations; the CLI and the admin API depend on this, not on the implementation. */
export interface SupervisorOps {
  status(): Promise<FerryStatus>;
  degrade(reason?: string): Promise<FerryStatus>;
  recover(): Promise<FerryStatus>;
  /** `'all'`: every destination of the workspace. Throws UnknownDestinationError before changing anything. */
  pause(destinations: readonly string[] | 'all', reason?: string): Promise<FerryStatus>;
  resume(destinations: readonly string[] | 'all'): Promise<FerryStatus>;
  /** Users whose delivery to this destination is retrying or paused, from Temporal's visibility. */
  stuck(destinationId: string, options?: { limit?: number }): Promise<StuckUser[]>;
}

export interface SupervisorClientOptions {
  readonly client: Client;
  readonly taskQueue: string;
  /** The workspace's destination ids: commands naming another id are refused. */
  readonly destinationIds: readonly string[];
  /** Ferry's database, for the backlog; without it the backlog reads as 0. */
  readonly pool?: Pool;
  /** How long one command may take. @default 15000 */
  readonly timeoutMs?: number;
}

export class SupervisorClient implements SupervisorOps {
  constructor(private readonly options: SupervisorClientOptions) {}

  async status(): Promise<FerryStatus> {
    let status: SupervisorStatus | undefined;
    try {
      status = await this.call(async () => {
        try {
          return await this.options.client.workflow.getHandle(supervisorWorkflowId(this.options.taskQueue)).query(statusQuery);
        } catch (err) {
          // Not started yet (no worker has reported): nothing is paused or degraded.
          if ((err as Error).name === 'WorkflowNotFoundError') return undefined;
          throw err;
        }
      }, STATUS_QUERY_TIMEOUT_MS);
    } catch (err) {
      // The supervisor is busy or down: what it last published is still what every worker obeys.
      if (!this.options.pool) throw err;
      return { ...(await this.withBacklog(await this.published())), source: 'published' };
    }
    return this.withBacklog(status);
  }

  /** The decisions as the supervisor last wrote them to the control tables. */
  private async published(): Promise<SupervisorStatus> {
    const control = await readControl(this.options.pool!);
    return {
      mode: control.mode,
      ...(control.modeReason ? { modeReason: control.modeReason } : {}),
      destinations: [...control.destinations].map(([id, d]) => ({ id, state: d.state, ...(d.reason ? { reason: d.reason } : {}), recent: { attempts: 0, failures: 0, windowSeconds: 0 } })),
      recentSelfFailures: 0,
      recentWorkerStarts: 0,
    };
  }

  async degrade(reason?: string): Promise<FerryStatus> {
    const seq = await this.override({ mode: 'degraded', reason: reason ?? 'by an operator' });
    return this.command(degradeUpdate, [{ reason, seq }]);
  }

  async recover(): Promise<FerryStatus> {
    const seq = await this.override({ mode: 'normal' });
    await this.wakeNow();
    return this.command(recoverUpdate, [{ seq }]);
  }

  async pause(destinations: readonly string[] | 'all', reason?: string): Promise<FerryStatus> {
    const destinationIds = this.checked(destinations);
    const seq = await this.override({ destinationIds, state: 'paused', reason: reason ?? 'by an operator' });
    return this.command(pauseUpdate, [{ destinationIds, reason, seq }]);
  }

  async resume(destinations: readonly string[] | 'all'): Promise<FerryStatus> {
    const destinationIds = this.checked(destinations);
    const seq = await this.override({ destinationIds, state: 'active' });
    for (const destinationId of destinationIds) await this.wakeNow(destinationId);
    return this.command(resumeUpdate, [{ destinationIds, seq }]);
  }

  /**
   * Writes the command's override, in effect for every worker within a control refresh, whatever the
   * supervisor's backlog. Without the database (a client given no pool) the command goes through the
   * supervisor only.
   */
  private async override(command: Parameters<typeof writeOverride>[1]): Promise<number | undefined> {
    if (!this.options.pool) return undefined;
    try {
      return await writeOverride(this.options.pool, command);
    } catch (err) {
      throw new SupervisorUnavailableError(`the database did not take the command: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Wakes the oldest parked lanes at once, so deliveries restart before the supervisor gets to it (it wakes the rest). */
  private async wakeNow(destinationId?: string): Promise<void> {
    if (!this.options.pool) return;
    await wakeParkedLanes({ pool: this.options.pool, client: this.options.client }, { destinationId, limit: WAKE_AT_ONCE }).catch(() => undefined);
  }

  /**
   * Tells the supervisor. When the override is already written, a supervisor slower than
   * COMMAND_TIMEOUT_MS does not fail the command: it applies it when it gets to it, and the status
   * shows what is in effect.
   */
  private async command<Args extends unknown[]>(update: Parameters<Client['workflow']['executeUpdateWithStart']>[0], args: Args & [{ seq?: number }]): Promise<FerryStatus> {
    const written = args[0].seq !== undefined;
    try {
      return await this.withBacklog(await this.update(update, args, written ? COMMAND_TIMEOUT_MS : undefined));
    } catch (err) {
      if (!written || !(err instanceof SupervisorUnavailableError)) throw err;
      return { ...(await this.withBacklog(await this.published())), source: 'published' };
    }
  }

  async stuck(destinationId: string, { limit = 100 }: { limit?: number } = {}): Promise<StuckUser[]> {
    this.checked([destinationId]);
    const quoted = destinationId.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    const query = `ExecutionStatus = 'Running' AND (${searchAttributes.stuckDestinations.name} = '${quoted}' OR ${searchAttributes.pausedDestinations.name} = '${quoted}')`;
    return this.call(async () => {
      const users: StuckUser[] = [];
      for await (const execution of this.options.client.workflow.list({ query })) {
        const attributes = execution.typedSearchAttributes;
        users.push({
          workflowId: execution.workflowId,
          sourceId: attributes.get(searchAttributes.sourceId),
          userKey: attributes.get(searchAttributes.userKey),
          startedAt: execution.startTime.toISOString(),
        });
        if (users.length >= limit) break;
      }
      return users;
    });
  }

  private checked(destinations: readonly string[] | 'all'): string[] {
    if (destinations === 'all') return [...this.options.destinationIds];
    const known = new Set(this.options.destinationIds);
    for (const id of destinations) if (!known.has(id)) throw new UnknownDestinationError(id);
    return [...new Set(destinations)];
  }

  private async update<Args extends unknown[]>(update: Parameters<Client['workflow']['executeUpdateWithStart']>[0], args: Args, timeoutMs?: number): Promise<SupervisorStatus> {
    return this.call(
      () =>
        this.options.client.workflow.executeUpdateWithStart(update as never, {
          args: args as never,
          startWorkflowOperation: this.startOperation(),
        }) as Promise<SupervisorStatus>,
      timeoutMs,
    );
  }

  private startOperation() {
    return new WithStartWorkflowOperation(SUPERVISOR_WORKFLOW_TYPE, {
      workflowId: supervisorWorkflowId(this.options.taskQueue),
      taskQueue: supervisorTaskQueue(this.options.taskQueue),
      args: [{}],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
  }

  private async call<T>(fn: () => Promise<T>, timeoutMs: number = this.options.timeoutMs ?? 15_000): Promise<T> {
    try {
      return await this.options.client.withDeadline(Date.now() + timeoutMs, fn);
    } catch (err) {
      if (err instanceof FerryError) throw err;
      throw new SupervisorUnavailableError(`the supervisor did not answer: ${(err as Error).message}`, { cause: err });
    }
  }

  private async withBacklog(supervisor: SupervisorStatus | undefined): Promise<FerryStatus> {
    const status = await this.withOverrides(supervisor);
    const byId = new Map((status?.destinations ?? []).map((d) => [d.id, d]));
    const ids = [...new Set([...this.options.destinationIds, ...byId.keys()])].sort();
    return {
      mode: status?.mode ?? 'normal',
      ...(status?.modeBy ? { modeBy: status.modeBy } : {}),
      ...(status?.modeReason ? { modeReason: status.modeReason } : {}),
      ...(status?.modeSince ? { modeSince: status.modeSince } : {}),
      destinations: ids.map((id) => byId.get(id) ?? { id, state: 'active', recent: { attempts: 0, failures: 0, windowSeconds: 60 } }),
      backlog: await this.backlog(),
      recentSelfFailures: status?.recentSelfFailures ?? 0,
      recentWorkerStarts: status?.recentWorkerStarts ?? 0,
    };
  }

  /** Operators' commands the supervisor has not applied yet are in effect all the same: the status shows them. */
  private async withOverrides(status: SupervisorStatus | undefined): Promise<SupervisorStatus | undefined> {
    if (!this.options.pool) return status;
    const [mode, destinations] = await Promise.all([
      this.options.pool.query<{ operator_mode: PipelineMode; operator_reason: string | null }>('SELECT operator_mode, operator_reason FROM pipeline_control WHERE operator_mode IS NOT NULL'),
      this.options.pool.query<{ destination_id: string; operator_state: DestinationState; operator_reason: string | null }>(
        'SELECT destination_id, operator_state, operator_reason FROM destination_control WHERE operator_state IS NOT NULL',
      ),
    ]);
    if (mode.rows.length === 0 && destinations.rows.length === 0) return status;
    const base: SupervisorStatus = status ?? { mode: 'normal', destinations: [], recentSelfFailures: 0, recentWorkerStarts: 0 };
    const overridden = new Map(destinations.rows.map((r) => [r.destination_id, r]));
    const known = new Set(base.destinations.map((d) => d.id));
    const modeRow = mode.rows[0];
    return {
      ...base,
      ...(modeRow ? { mode: modeRow.operator_mode, modeBy: 'operator' as const, ...(modeRow.operator_reason ? { modeReason: modeRow.operator_reason } : { modeReason: undefined }) } : {}),
      destinations: [
        ...base.destinations.map((d) => {
          const o = overridden.get(d.id);
          return o ? { ...d, state: o.operator_state, by: 'operator' as const, reason: o.operator_reason ?? undefined, nextProbeAt: undefined } : d;
        }),
        ...destinations.rows
          .filter((r) => !known.has(r.destination_id))
          .map((r) => ({ id: r.destination_id, state: r.operator_state, by: 'operator' as const, ...(r.operator_reason ? { reason: r.operator_reason } : {}), recent: { attempts: 0, failures: 0, windowSeconds: 0 } })),
      ],
    };
  }

  private async backlog(): Promise<FerryStatus['backlog']> {
    if (!this.options.pool) return { unrelayedRows: 0, relays: 0 };
    const { rows } = await this.options.pool.query<{ rows: string | null; oldest: Date | null; relays: string }>(
      `SELECT sum(lag_rows)::text AS rows, min(lag_oldest_at) AS oldest, count(*)::text AS relays
         FROM relay_members WHERE heartbeat_at > now() - interval '30 seconds'`,
    );
    const row = rows[0]!;
    return { unrelayedRows: Number(row.rows ?? 0), ...(row.oldest ? { oldestAt: row.oldest.toISOString() } : {}), relays: Number(row.relays) };
  }
}
