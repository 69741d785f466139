import { type NativeConnection, Worker } from '@temporalio/worker';
import { workflowSinks, workflowSource } from './workflowSource';
import type { HealthCounters } from '../control/health';
import type { Activities } from '../activities';
import type { PipelineSettings, SettingsActivity } from '../workflows/settings';

export interface PipelineWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly activities: Activities;
  /** What each pipeline run reads at its start; the worker's own, from its environment. */
  readonly settings: PipelineSettings;
  /** Delivery steps (local activities) running at once. @default 200 */
  readonly maxConcurrentActivities?: number;
  /**
   * Workflow tasks in progress at once. A task holds its slot while its delivery step runs, waiting on
   * the destination, so this bounds how many lanes deliver at the same time. @default 200
   */
  readonly maxConcurrentWorkflowTasks?: number;
  /** Threads running workflow code; more than one lets activations use a second core. @default 2 */
  readonly workflowThreads?: number;
  /** Workflows kept in memory between tasks; each idle one costs memory, a missing one a replay. @default 1000 */
  readonly maxCachedWorkflows?: number;
  /** A pre-built workflow bundle (tests build one for the whole suite); built from workflows/ when unset. */
  readonly workflowBundlePath?: string;
  /** The bundle's code, built once by a process that runs several workers. */
  readonly workflowCode?: string;
  /** Where failed workflow tasks are counted for the supervisor; uncounted when unset. */
  readonly health?: HealthCounters;
}

/** The worker that runs pipeline workflows and their activities; the same in production and in tests. */
export function createPipelineWorker(options: PipelineWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...workflowSource(options),
    sinks: workflowSinks(options.health),
    activities: { ...options.activities, ...settingsActivity(options.settings) },
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 200,
    maxConcurrentLocalActivityExecutions: options.maxConcurrentActivities ?? 200,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTasks ?? 200,
    // Enough pollers that a burst of signalled workflows does not queue behind a few polls.
    workflowTaskPollerBehavior: { type: 'autoscaling', minimum: 2, initial: 10, maximum: 50 },
    maxCachedWorkflows: options.maxCachedWorkflows ?? 1_000,
    workflowThreadPoolSize: options.workflowThreads ?? 2,
  });
}

function settingsActivity(settings: PipelineSettings): SettingsActivity {
  return {
    async pipelineSettings() {
      return settings;
    },
  };
}
