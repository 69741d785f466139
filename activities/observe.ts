/**
 * Metrics and log lines for the delivery steps, around them rather than inside: each step's outcome is
 * what the workflow records, so counting it here counts what the workflow counts. Log lines carry the
 * workflow id and messageId, to follow one event from the gateway to the destination; they never carry
 * the event, the requests built from it, or a destination's answer (which may echo the event) above
 * debug level.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { FerryEvent } from '../events/event';
import { DELIVERY_OUTCOMES, type DeliveryMetrics } from '../metrics/worker';
import { DELIVERY_FAILED, type DeliverStepInput, type DeliverStepResult, type DeliveryFailureDetails, type ItemResult } from './contract';
import type { DeadLetterInput } from './deadLetters';

type Step = (input: DeliverStepInput) => Promise<DeliverStepResult>;

/** receivedAt of events read for live steps, by messageId, until they settle; bounded, oldest dropped first. */
const MAX_TRACKED_EVENTS = 50_000;

export interface DeliveryObserverOptions {
  readonly metrics?: DeliveryMetrics;
  readonly logger: Logger;
  /** @default Date.now */
  readonly now?: () => number;
}

export function createDeliveryObserver({ metrics, logger, now = Date.now }: DeliveryObserverOptions) {
  const receivedAt = new Map<string, number>();

  const logResult = (input: DeliverStepInput, result: ItemResult) => {
    const context = { workflowId: input.workflowId, destinationId: input.destinationId, messageId: result.messageId };
    if (result.outcome === 'aborted') {
      // The reason may quote the destination's answer: only at debug.
      logger.info({ ...context, stage: result.stage, status: result.status, attempts: result.attempts }, 'event aborted; written to dead letters');
      logger.debug({ ...context, reason: result.reason }, 'abort reason');
    } else logger.debug({ ...context, outcome: result.outcome, ...(result.outcome === 'filtered' ? { reason: result.reason } : {}) }, `event ${result.outcome}`);
  };

  const count = (input: DeliverStepInput, results: readonly ItemResult[], live: boolean) => {
    for (const result of results) {
      logResult(input, result);
      metrics?.deliveries.inc({ destination: input.destinationId, outcome: result.outcome });
      const at = receivedAt.get(result.messageId);
      if (live && result.outcome === 'delivered' && at !== undefined) metrics?.latencySeconds.observe({ destination: input.destinationId }, Math.max(0, now() - at) / 1000);
    }
  };

  return {
    /**
     * Wraps a delivery step. `live` steps (not replays or re-drives) also measure latency from the
     * gateway, and the lane backlog.
     */
    step(step: Step, { live }: { live: boolean }): Step {
      return async (input) => {
        const lane = live ? metrics?.laneBacklog : undefined;
        lane?.set(input.workflowId, input.destinationId, input.items.length);
        const done = metrics?.stepSeconds.startTimer({ destination: input.destinationId });
        try {
          const result = await step(input);
          count(input, result.results, live);
          lane?.set(input.workflowId, input.destinationId, input.items.length - result.results.length);
          if (result.paused) logger.info({ workflowId: input.workflowId, destinationId: input.destinationId, reason: result.paused.reason }, 'lane paused');
          return result;
        } catch (err) {
          const details = err instanceof ApplicationFailure && err.type === DELIVERY_FAILED ? (err.details?.[0] as DeliveryFailureDetails | undefined) : undefined;
          if (details) {
            count(input, details.results, live);
            metrics?.deliveries.inc({ destination: input.destinationId, outcome: DELIVERY_OUTCOMES.retry });
            lane?.set(input.workflowId, input.destinationId, input.items.length - details.results.length);
            // The error text quotes the destination's answer, which may echo the event: only at debug.
            logger.warn({ workflowId: input.workflowId, destinationId: input.destinationId, messageId: details.messageId, status: details.status, retryInMs: details.retryInMs }, 'delivery failed; will retry');
            logger.debug({ workflowId: input.workflowId, destinationId: input.destinationId, messageId: details.messageId, error: details.error }, 'delivery error');
          } else {
            logger.error({ workflowId: input.workflowId, destinationId: input.destinationId, messageId: input.items[0]?.messageId, errorType: (err as Error).name }, 'delivery step failed');
          }
          throw err;
        } finally {
          done?.();
        }
      };
    },

    /** Wraps the step's event reader, noting when the gateway received each event. */
    readEvents(read: (seqs: readonly number[]) => Promise<Map<number, FerryEvent>>) {
      return async (seqs: readonly number[]): Promise<Map<number, FerryEvent>> => {
        const events = await read(seqs);
        if (!metrics) return events;
        for (const event of events.values()) {
          const at = Date.parse(event.receivedAt);
          if (Number.isNaN(at)) continue;
          receivedAt.delete(event.messageId);
          receivedAt.set(event.messageId, at);
        }
        for (const key of receivedAt.keys()) {
          if (receivedAt.size <= MAX_TRACKED_EVENTS) break;
          receivedAt.delete(key);
        }
        return events;
      };
    },

    /** Wraps the dead-letter writer, counting what it wrote. */
    deadLetters(record: (input: DeadLetterInput) => Promise<void>) {
      return async (input: DeadLetterInput): Promise<void> => {
        await record(input);
        for (const entry of input.entries) metrics?.deadLetters.inc({ destination: input.destinationId, stage: entry.stage });
      };
    },
  };
}
