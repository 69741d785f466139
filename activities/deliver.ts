import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Destination, Workspace } from '../config/workspace';
import type { DeliverInput, DeliverItem, DeliverResult, DeliveryFailureDetails, ItemResult } from './contract';
import type { DeliveryRequest } from '../delivery/requests';
import { DELIVERY_FAILED } from './contract';
import type { DeliveryOutcome, Transport, Transports } from './deliver/transport';
import { decideRetry } from '../delivery/retryPolicy';
import type { DeliveryProgress } from './deliver/progress';

export interface DeliverDeps {
  readonly workspace: Workspace;
  /** Timeout of one request to a destination. */
  readonly timeoutMs: number;
  readonly transports: Transports;
  /** Where each settled item is recorded before the next is sent. */
  readonly progress: DeliveryProgress;
  readonly now?: () => number;
}

/**
 * Delivers a lane's head items in order. Each item's result is committed to `progress` before the
 * next item is sent, and items already recorded there (by a call that a crash cut short) are not sent
 * again: only the request in flight at a crash can reach the destination twice.
 *
 * Items settled (delivered or aborted) before a retryable failure are reported in the failure's
 * details, so the workflow keeps them settled and retries only from the failing item.
 */
export function createDeliver({ workspace, timeoutMs, transports, progress, now = Date.now }: DeliverDeps) {
  return async function deliver(input: DeliverInput): Promise<DeliverResult> {
    const destination = workspace.destination(input.sourceId, input.destinationId);
    const lane = { workflowId: input.workflowId, destinationId: input.destinationId };
    const recorded = await progress.recorded(
      lane,
      input.items.map((i) => i.messageId),
    );
    const results: ItemResult[] = [];
    const settle = async (result: ItemResult) => {
      if (!recorded.has(result.messageId)) await progress.record(lane, result);
      results.push(result);
    };
    for (const item of input.items) {
      const already = recorded.get(item.messageId);
      if (already) {
        results.push(already);
        continue;
      }
      const attempt = item.attempts + 1;
      if (!destination || !destination.enabled) {
        const why = destination ? 'is disabled' : 'is no longer in the workspace config';
        await settle({ messageId: item.messageId, outcome: 'aborted', reason: `destination ${input.destinationId} ${why}`, attempts: attempt });
        continue;
      }
      const outcome = await sendItem(transports, destination, item, timeoutMs);
      if (outcome.kind === 'delivered') {
        await settle({ messageId: item.messageId, outcome: 'delivered' });
        continue;
      }
      if (outcome.kind === 'rejected') {
        await settle({
          messageId: item.messageId,
          outcome: 'aborted',
          reason: outcome.status === undefined ? `destination rejected the event: ${outcome.body}` : `destination rejected the event with HTTP ${outcome.status}`,
          status: outcome.status,
          responseBody: outcome.body,
          attempts: attempt,
        });
        continue;
      }
      const failedAt = now();
      const decision = decideRetry(destination.retry, outcome, attempt, item.firstFailureAt ?? failedAt, failedAt);
      if (decision.action === 'abort') {
        await settle({
          messageId: item.messageId,
          outcome: 'aborted',
          reason: `${decision.reason}; last error: ${outcome.error}`,
          status: outcome.status,
          responseBody: outcome.body,
          attempts: attempt,
        });
        continue;
      }
      const details: DeliveryFailureDetails = {
        results,
        messageId: item.messageId,
        error: outcome.error,
        status: outcome.status,
        retryInMs: decision.delayMs,
        failedAt,
      };
      throw ApplicationFailure.create({
        type: DELIVERY_FAILED,
        message: `${input.destinationId}: ${outcome.error} (attempt ${attempt}, retry in ${Math.round(decision.delayMs / 1000)} s)`,
        nonRetryable: true,
        details: [details],
      });
    }
    return { results };
  };
}

/** Sends an event's requests in order; the event is delivered only when all of them are. */
async function sendItem(transports: Transports, destination: Destination, item: DeliverItem, timeoutMs: number): Promise<DeliveryOutcome> {
  let last: DeliveryOutcome = { kind: 'delivered' };
  for (const [index, request] of item.requests.entries()) {
    // Transports is keyed by kind, so this lookup always finds the transport for this request's kind.
    const transport = transports[request.kind] as Transport<DeliveryRequest>;
    last = await transport(request, { destination, timeoutMs, idempotencyKey: idempotencyKey(destination.id, item.messageId, index) });
    if (last.kind !== 'delivered') return last;
  }
  return last;
}

/** Stable per event, destination and request, so a destination that deduplicates sees retries as one. */
export function idempotencyKey(destinationId: string, messageId: string, index: number): string {
  return createHash('sha256').update(`${destinationId}\0${messageId}\0${index}`).digest('hex').slice(0, 32);
}
