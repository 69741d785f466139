/**
 * A deliberately changed release of Ferry's workflow code, bundled only by determinism.test.ts: every
 * workflow now waits a moment before it starts, one timer more than any recorded history has. Replaying
 * the recorded histories with it must fail, as it would fail every open run after a deployment.
 */
import { sleep, type Next, type WorkflowInboundCallsInterceptor, type WorkflowInterceptors } from '@temporalio/workflow';

type Execute = Next<WorkflowInboundCallsInterceptor, 'execute'>;

class ExtraTimer implements WorkflowInboundCallsInterceptor {
  async execute(input: Parameters<Execute>[0], next: Execute): Promise<unknown> {
    await sleep(1);
    return next(input);
  }
}

export const interceptors = (): WorkflowInterceptors => ({ inbound: [new ExtraTimer()] });
