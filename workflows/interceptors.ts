/**
 * Counts failed workflow tasks for the supervisor. An error that workflow code throws and that is not a
 * Temporal failure fails the workflow task rather than the workflow: Temporal retries the task, and a
 * broken release of workflow code fails every one. Those failures never reach an activity, so the
 * worker learns of them through a sink, and its health reporter sends the count with the rest of its
 * aggregates. Errors propagate unchanged: this only watches.
 */
import {
  ContinueAsNew,
  proxySinks,
  TemporalFailure,
  type Next,
  type Sinks,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
} from '@temporalio/workflow';

/** The sink a worker registers (workers/workflowSinks.ts) so that failed tasks reach its health counters. */
export interface FerryHealthSinks extends Sinks {
  ferryHealth: {
    /** A workflow task of this workflow failed because its code threw `errorName`. */
    workflowTaskFailed(errorName: string): void;
  };
}

const { ferryHealth } = proxySinks<FerryHealthSinks>();

/** Errors that end or continue a workflow on purpose, rather than failing its task. */
function failsTheTask(err: unknown): err is Error {
  return !(err instanceof TemporalFailure) && !(err instanceof ContinueAsNew);
}

function watch<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((err: unknown) => {
    if (failsTheTask(err)) ferryHealth.workflowTaskFailed(err instanceof Error ? err.name : typeof err);
    throw err;
  });
}

class TaskFailureWatcher implements WorkflowInboundCallsInterceptor {
  execute(input: Parameters<Next<WorkflowInboundCallsInterceptor, 'execute'>>[0], next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
    return watch(() => next(input));
  }

  handleSignal(input: Parameters<Next<WorkflowInboundCallsInterceptor, 'handleSignal'>>[0], next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>) {
    return watch(() => next(input));
  }

  handleUpdate(input: Parameters<Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>>[0], next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>) {
    return watch(() => next(input));
  }
}

export const interceptors = (): WorkflowInterceptors => ({ inbound: [new TaskFailureWatcher()] });
