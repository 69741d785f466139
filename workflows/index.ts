// The worker bundles this file: export every workflow type Ferry runs, and nothing with side effects.
// Workers load it once per thread and share it across workflows (workers/workflowSource.ts), so no
// module under workflows/ may keep per-workflow state in module scope: state lives in each run's classes.
export { pipelineWorkflow } from './pipeline';
export { supervisorWorkflow } from './supervisor';
export { replayWorkflow } from './replay';
