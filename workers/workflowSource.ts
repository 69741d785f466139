import { bundleWorkflowCode, type InjectedSinks, type WorkerOptions } from '@temporalio/worker';
import type { HealthCounters } from '../control/health';
import type { FerryHealthSinks } from '../workflows/interceptors';

/** Resolves to workflows/index.ts under ts-jest and dist/workflows/index.js when built. */
const WORKFLOWS_MODULE = require.resolve('../workflows');

/** Bundled with the workflow code: every bundle a Ferry worker runs must include them. */
const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../workflows/interceptors')];

/**
 * Evaluated once per workflow thread and shared by every workflow on it, instead of once per new
 * workflow: each user's first event starts a workflow, and evaluating these modules again for each
 * cost about 1 ms of a workflow thread and 25 KB of the worker's memory (bench/README.md). Sharing
 * is safe only because their module scope holds no per-workflow state (constants, proxies, classes);
 * the worker deep-freezes what they export, but a module-level variable would leak between users.
 */
const PRELOADED_MODULES = ['@temporalio/workflow', WORKFLOWS_MODULE, ...WORKFLOW_INTERCEPTOR_MODULES];

export interface BundleOptions {
  readonly logger?: Parameters<typeof bundleWorkflowCode>[0]['logger'];
  /** Interceptor modules to bundle after Ferry's own (a test's deliberately broken release). @default [] */
  readonly extraInterceptorModules?: readonly string[];
}

/** Builds the workflow bundle (workflows/ and its interceptors): seconds of CPU, so once per process or suite. */
export async function bundleFerryWorkflows(options: BundleOptions = {}): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_MODULE,
    // Ferry's first: the outermost interceptor sees what every later one throws.
    workflowInterceptorModules: [...WORKFLOW_INTERCEPTOR_MODULES, ...(options.extraInterceptorModules ?? [])],
    logger: options.logger,
    preloadModules: PRELOADED_MODULES,
  });
  return code;
}

/** Where a worker gets the workflow code: a bundle given as code or as a file, else built from workflows/. */
export function workflowSource(options: { workflowBundlePath?: string; workflowCode?: string }): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'interceptors' | 'bundlerOptions'> {
  if (options.workflowCode !== undefined) return { workflowBundle: { code: options.workflowCode } };
  if (options.workflowBundlePath !== undefined) return { workflowBundle: { codePath: options.workflowBundlePath } };
  return {
    workflowsPath: WORKFLOWS_MODULE,
    interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    bundlerOptions: { preloadModules: PRELOADED_MODULES },
  };
}

/**
 * The sinks the workflow interceptors call. A failed workflow task counts as a failure of Ferry's own
 * toward degraded mode; never during replay, so a task retried after a restart counts once per attempt.
 */
export function workflowSinks(health: HealthCounters | undefined): InjectedSinks<FerryHealthSinks> {
  return {
    ferryHealth: {
      workflowTaskFailed: { fn: () => health?.selfFailure(), callDuringReplay: false },
    },
  };
}
