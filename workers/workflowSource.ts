import type { WorkerOptions } from '@temporalio/worker';

/** Where a worker gets the workflow code: a bundle given as code or as a file, else built from workflows/. */
export function workflowSource(options: { workflowBundlePath?: string; workflowCode?: string }): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (options.workflowCode !== undefined) return { workflowBundle: { code: options.workflowCode } };
  if (options.workflowBundlePath !== undefined) return { workflowBundle: { codePath: options.workflowBundlePath } };
  // Resolves to workflows/index.ts under ts-jest and dist/workflows/index.js when built.
  return { workflowsPath: require.resolve('../workflows') };
}
