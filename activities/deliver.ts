/**
 * The delivery step: one call per lane step. It reads the lane's head events from the log, runs them
 * through the destination's user transformation and transform, sends the requests in order, writes
 * aborted events to the dead-letter table, and returns only each item's outcome: event payloads and
 * the requests built from them never cross into workflow history.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Destination, Workspace } from '../config/workspace';
import type { HealthCounters } from '../control/health';
import type { DeliveryRequest } from '../delivery/requests';
import { decideRetry } from '../delivery/retryPolicy';
import type { FerryEvent } from '../events/event';
import { readEvents as readLogEvents } from '../log/reader';
import type { DeliverStepInput, DeliverStepResult, DeliveryFailureDetails, ItemResult, StepItem } from './contract';
import { DELIVERY_FAILED } from './contract';
import type { DeadLetterEntry, DeadLetterInput } from './deadLetters';
import type { DeliveryProgress } from './deliver/progress';
import type { DeliveryOutcome, Transport, Transports } from './deliver/transport';
import type { TransformInput, TransformOutcome } from './transform';

type Permission = { ok: true } | { ok: false; reason: string };

/** What a step must fit in: Temporal gives up on a step at its timeout, and retries it. */
export interface StepBudget {
  /** The step's start-to-close timeout. */
  readonly timeoutMs: number;
  /** Aborted when Temporal cancels the step: it timed out, or the worker is shutting down. */
  readonly signal?: AbortSignal;
}

/** Kept free before a step's timeout, for the last item's progress record and the result's way back. */
const MAX_STEP_MARGIN_MS = 1_000;
/** The shortest timeout a request gets, however little of the step's budget is left. */
const MIN_REQUEST_TIMEOUT_MS = 1_000;

export interface DeliverStepDeps {
  readonly workspace: Workspace;
  /** Ferry's database: the log the events are read from. */
  readonly pool: Pool;
  readonly transform: (input: TransformInput) => Promise<TransformOutcome[]>;
  readonly transports: Transports;
  /** Where each settled item is recorded before the next is sent. */
  readonly progress: DeliveryProgress;
  readonly recordDeadLetters: (input: DeadLetterInput) => Promise<void>;
  /** Timeout of one request to a destination. */
  readonly timeoutMs: number;
  readonly now?: () => number;
  /** Whether a delivery may start now (the supervisor's pauses and degraded mode). @default always */
  readonly control?: {
    mayDeliver(destinationId: string): Permission;
    /** The same on a fresh read of the control state. */
    confirm(destinationId: string): Promise<Permission>;
  };
  /** Registers a lane stopped by a pause, so the supervisor wakes it on resume; and takes it back. */
  readonly parkedLanes?: {
    park(lane: { workflowId: string; destinationId: string }): Promise<void>;
    unpark(lane: { workflowId: string; destinationId: string }): Promise<void>;
  };
  /** Counts each attempt for the supervisor's circuit breaker. */
  readonly health?: HealthCounters;
  /** Where the items' events are read, by their `seq`. @default the log (a re-drive reads dead letters) */
  readonly readEvents?: (refs: readonly number[]) => Promise<Map<number, FerryEvent>>;
  /** The running step's budget, read as it starts. @default none: a step sends all its items */
  readonly budget?: () => StepBudget | undefined;
}

/**
 * Settles a lane's head items in order. Each item's result is committed to `progress` before the next
 * item is sent, and items already recorded there (by a step that a crash cut short) are not sent again:
 * only the request in flight at a crash can reach the destination twice.
 *
 * A step returns within its budget with what it has settled, and the next step takes the rest. A step
 * that outlived its timeout would go on sending while Temporal already runs the next one, which sends
 * the same items again: so it sends an item only while the slowest send so far still fits before the
 * timeout, cuts each request's timeout to what is left, and stops once Temporal cancels it.
 *
 * Items settled before a retryable failure are reported in the failure's details, so the workflow
 * keeps them settled and retries only from the failing item.
 */
export function createDeliverStep({
  workspace,
  pool,
  transform,
  transports,
  progress,
  recordDeadLetters,
  timeoutMs,
  now = Date.now,
  control,
  parkedLanes,
  health,
  readEvents = (seqs) => readLogEvents(pool, seqs),
  budget: readBudget = () => undefined,
}: DeliverStepDeps) {
  return async function deliverStep(input: DeliverStepInput): Promise<DeliverStepResult> {
    const { sourceId, workflowId, destinationId, items } = input;
    const budget = readBudget();
    const deadline = budget ? now() + budget.timeoutMs - Math.min(MAX_STEP_MARGIN_MS, budget.timeoutMs / 10) : Infinity;
    let slowestSendMs = -1;
    const requestTimeoutMs = () => Math.min(timeoutMs, Math.max(deadline - now(), MIN_REQUEST_TIMEOUT_MS));
    const lane = { workflowId, destinationId };
    /** Why the lane must stop now, if it must. */
    const stopped = async (): Promise<string | undefined> => {
      if (!control || control.mayDeliver(destinationId).ok) return undefined;
      // Registered before the fresh read: a resume published after that read finds the lane and wakes it.
      await parkedLanes?.park(lane);
      const fresh = await control.confirm(destinationId);
      if (fresh.ok) {
        await parkedLanes?.unpark(lane);
        return undefined;
      }
      return fresh.reason;
    };
    const pausedBefore = await stopped();
    if (pausedBefore !== undefined) return { results: [], paused: { reason: pausedBefore } };
    // Both reads at once, a round trip less on every step; a step run again after a crash reads the
    // events of its already settled items for nothing.
    const [recorded, events] = await Promise.all([progress.recorded(lane, items.map((i) => i.messageId)), readEvents(items.map((i) => i.seq))]);
    const unsettled = items.filter((i) => !recorded.has(i.messageId));
    const destination = workspace.destination(sourceId, destinationId);
    const usable = destination?.enabled ? destination : undefined;
    const outcomes = usable ? await transformAll(transform, sourceId, destinationId, unsettled, events) : new Map<string, TransformOutcome>();

    const results: ItemResult[] = [];
    const settle = async (item: StepItem, result: ItemResult, deadLetter?: Partial<Omit<DeadLetterEntry, 'event' | 'stage' | 'reason' | 'attempts'>>) => {
      if (result.outcome === 'aborted') {
        const event = events.get(item.seq) ?? { messageId: item.messageId };
        await recordDeadLetters({ sourceId, destinationId, workflowId, entries: [{ ...deadLetter, event, stage: result.stage, reason: result.reason, attempts: result.attempts }] });
      }
      await progress.record(lane, result);
      results.push(result);
    };

    for (const item of items) {
      const already = recorded.get(item.messageId);
      if (already) {
        results.push(already);
        continue;
      }
      const attempt = item.attempts + 1;
      const { messageId } = item;
      if (!usable) {
        const why = destination ? 'is disabled' : 'is no longer in the workspace config';
        await settle(item, { messageId, outcome: 'aborted', stage: 'deliver', reason: `destination ${destinationId} ${why}`, attempts: attempt });
        continue;
      }
      if (!events.has(item.seq)) {
        await settle(item, { messageId, outcome: 'aborted', stage: 'deliver', reason: `event ${messageId} (log sequence ${item.seq}) is no longer in the log`, attempts: attempt });
        continue;
      }
      const outcome = outcomes.get(messageId);
      // Not transformed in this step (its user-transformation budget ran out): the next step takes it.
      if (!outcome) break;
      if (outcome.outcome === 'filtered') {
        await settle(item, { messageId, outcome: 'filtered', reason: outcome.reason });
        continue;
      }
      if (outcome.outcome === 'aborted') {
        await settle(item, { messageId, outcome: 'aborted', stage: 'transform', reason: outcome.reason, attempts: item.attempts }, { lastError: outcome.reason });
        continue;
      }
      // Past the first send, only what fits; the first always goes, so that every step moves its lane on.
      if (budget?.signal?.aborted || (slowestSendMs >= 0 && now() + slowestSendMs > deadline)) break;
      // Checked before each send: a pause stops the lane within a refresh of the control state.
      const pausedNow = await stopped();
      if (pausedNow !== undefined) return { results, paused: { reason: pausedNow } };
      const sendStarted = now();
      const sent = await sendItem(transports, usable, messageId, outcome.requests, requestTimeoutMs);
      slowestSendMs = Math.max(slowestSendMs, now() - sendStarted);
      health?.attempt(destinationId, sent.kind === 'retryable');
      if (sent.kind === 'delivered') {
        await settle(item, { messageId, outcome: 'delivered' });
        continue;
      }
      const failure = { requests: outcome.requests, lastStatus: sent.status, responseBody: sent.body, firstFailedAt: item.firstFailureAt };
      if (sent.kind === 'rejected') {
        const reason = sent.notSent ?? (sent.status === undefined ? `destination rejected the event: ${sent.body}` : `destination rejected the event with HTTP ${sent.status}`);
        await settle(item, { messageId, outcome: 'aborted', stage: 'deliver', reason, status: sent.status, attempts: attempt }, failure);
        continue;
      }
      const failedAt = now();
      const decision = decideRetry(usable.retry, sent, attempt, item.firstFailureAt ?? failedAt, failedAt);
      if (decision.action === 'abort') {
        const reason = `${decision.reason}; last error: ${sent.error}`;
        await settle(item, { messageId, outcome: 'aborted', stage: 'deliver', reason, status: sent.status, attempts: attempt }, { ...failure, lastError: sent.error, firstFailedAt: item.firstFailureAt ?? failedAt });
        continue;
      }
      const details: DeliveryFailureDetails = { results, messageId, error: sent.error, status: sent.status, retryInMs: decision.delayMs, failedAt };
      throw ApplicationFailure.create({
        type: DELIVERY_FAILED,
        message: `${destinationId}: ${sent.error} (attempt ${attempt}, retry in ${Math.round(decision.delayMs / 1000)} s)`,
        nonRetryable: true,
        details: [details],
      });
    }
    return { results };
  };
}

/** Transforms the unsettled items' events in one call (user transformations take batches), by messageId. */
async function transformAll(
  transform: DeliverStepDeps['transform'],
  sourceId: string,
  destinationId: string,
  items: readonly StepItem[],
  events: ReadonlyMap<number, FerryEvent>,
): Promise<Map<string, TransformOutcome>> {
  // Only the items up to the first one missing from the log: the step stops there anyway.
  const batch: FerryEvent[] = [];
  for (const item of items) {
    const event = events.get(item.seq);
    if (!event) break;
    batch.push(event);
  }
  const outcomes = await transform({ sourceId, destinationId, events: batch });
  return new Map(outcomes.map((o) => [o.messageId, o]));
}

/**
 * Sends an event's requests in order; the event is delivered only when all of them are. Credentials
 * are added here, to a copy that only the transport sees: the requests as transformed, which the
 * dead-letter store keeps, never hold them.
 */
async function sendItem(
  transports: Transports,
  destination: Destination,
  messageId: string,
  requests: readonly DeliveryRequest[],
  timeoutMs: () => number,
): Promise<DeliveryOutcome> {
  let last: DeliveryOutcome = { kind: 'delivered' };
  for (const [index, request] of requests.entries()) {
    // Transports is keyed by kind, so this lookup always finds the transport for this request's kind.
    const transport = transports[request.kind] as Transport<DeliveryRequest>;
    const authorize = destination.definition.authorize;
    const sendable = request.kind === 'http' && authorize ? authorize(request, destination.config) : request;
    last = await transport(sendable, { destination, timeoutMs: timeoutMs(), idempotencyKey: idempotencyKey(destination.id, messageId, index) });
    if (last.kind !== 'delivered') return last;
  }
  return last;
}

/** Stable per event, destination and request, so a destination that deduplicates sees retries as one. */
export function idempotencyKey(destinationId: string, messageId: string, index: number): string {
  return createHash('sha256').update(`${destinationId}\0${messageId}\0${index}`).digest('hex').slice(0, 32);
}
