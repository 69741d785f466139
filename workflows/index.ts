// The worker bundles this file: export every workflow type Ferry runs, and nothing with side effects.
export { pipelineWorkflow } from './pipeline';
export { supervisorWorkflow } from './supervisor';
export { replayWorkflow } from './replay';
