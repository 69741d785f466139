/**
 * The change of changedRelease.ts done right, bundled only by determinism.test.ts: the extra timer is
 * guarded by patched(), so runs recorded before it replay as they ran and only new runs take the timer.
 */
import { patched, sleep, type Next, type WorkflowInboundCallsInterceptor, type WorkflowInterceptors } from '@temporalio/workflow';

type Execute = Next<WorkflowInboundCallsInterceptor, 'execute'>;

class PatchedExtraTimer implements WorkflowInboundCallsInterceptor {
  async execute(input: Parameters<Execute>[0], next: Execute): Promise<unknown> {
    if (patched('determinism-test-extra-timer')) await sleep(1);
    return next(input);
  }
}

export const interceptors = (): WorkflowInterceptors => ({ inbound: [new PatchedExtraTimer()] });
