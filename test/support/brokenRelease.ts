/**
 * A deliberately broken release of Ferry's workflow code, bundled only by the test that uses it: every
 * event a pipeline workflow receives throws an error that is not a Temporal failure, so each of its
 * workflow tasks fails, as a bug in workflow code (a transform run there, say) would.
 */
import { workflowInfo, type Next, type WorkflowInboundCallsInterceptor, type WorkflowInterceptors } from '@temporalio/workflow';
import { PIPELINE_WORKFLOW_TYPE } from '../../workflows/definitions';

type HandleSignal = Next<WorkflowInboundCallsInterceptor, 'handleSignal'>;

class BrokenRelease implements WorkflowInboundCallsInterceptor {
  handleSignal(input: Parameters<HandleSignal>[0], next: HandleSignal): Promise<void> {
    if (workflowInfo().workflowType === PIPELINE_WORKFLOW_TYPE) throw new TypeError('broken release: cannot read the event');
    return next(input);
  }
}

export const interceptors = (): WorkflowInterceptors => ({ inbound: [new BrokenRelease()] });
