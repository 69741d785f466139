import { type NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import type { PipelineSettings, SettingsActivity } from '../workflows/settings';

export interface PipelineWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly activities: Activities;
  /** What each pipeline run reads at its start; the worker's own, from its environment. */
  readonly settings: PipelineSettings;
  /** @default 200 */
  readonly maxConcurrentActivities?: number;
  /** Workflows kept in memory between tasks; each idle one costs memory, a missing one a replay. @default 1000 */
  readonly maxCachedWorkflows?: number;
  /** A pre-built workflow bundle (tests build one for the whole suite); built from workflows/ when unset. */
  readonly workflowBundlePath?: string;
}

/** The worker that runs pipeline workflows and their activities; the same in production and in tests. */
export function createPipelineWorker(options: PipelineWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundlePath
      ? { workflowBundle: { codePath: options.workflowBundlePath } }
      : // Resolves to workflows/index.ts under ts-jest and dist/workflows/index.js when built.
        { workflowsPath: require.resolve('../workflows') }),
    activities: { ...options.activities, ...settingsActivity(options.settings) },
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 200,
    maxCachedWorkflows: options.maxCachedWorkflows ?? 1_000,
  });
}

function settingsActivity(settings: PipelineSettings): SettingsActivity {
  return {
    async pipelineSettings() {
      return settings;
    },
  };
}
