import { type NativeConnection, Worker } from '@temporalio/worker';
import { workflowSinks, workflowSource } from './workflowSource';
import type { HealthCounters } from '../control/health';
import type { AlertActivities } from '../activities/alerts';
import type { ControlActivities } from '../activities/control';
import type { SupervisorSettingsActivity } from '../workflows/settings';
import { supervisorTaskQueue } from '../workflows/supervisorDefinitions';

export interface SupervisorWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  /** The pipeline's task queue; the supervisor polls its own beside it (supervisorTaskQueue). */
  readonly taskQueue: string;
  readonly activities: ControlActivities & AlertActivities & SupervisorSettingsActivity;
  /** A pre-built workflow bundle (tests build one for the whole suite); built from workflows/ when unset. */
  readonly workflowBundlePath?: string;
  /** The bundle's code, built once by a process that runs several workers. */
  readonly workflowCode?: string;
  /** Where failed workflow tasks are counted; uncounted when unset. */
  readonly health?: HealthCounters;
}

/**
 * The worker that runs the supervisor workflow and its activities. Every worker process runs one, so
 * the supervisor lives on while any worker does; it is small, with a thread of its own for workflow code.
 */
export function createSupervisorWorker(options: SupervisorWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: supervisorTaskQueue(options.taskQueue),
    ...workflowSource(options),
    sinks: workflowSinks(options.health),
    activities: options.activities,
    maxConcurrentWorkflowTaskExecutions: 4,
    maxConcurrentActivityTaskExecutions: 20,
    maxConcurrentLocalActivityExecutions: 4,
    maxCachedWorkflows: 10,
    workflowThreadPoolSize: 1,
  });
}
