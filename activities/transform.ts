import type { Destination, Workspace } from '../config/workspace';
import type { FerryEvent } from '../events/event';
import { TransformError } from '../destinations/definition';
import { eventFilterReason } from '../destinations/fields/eventFilter';
import type { UserTransformationSandboxes } from '../transformations/pool';
import { runUserTransformation, type UserTransformationResult } from '../transformations/run';
import type { DeliveryRequest } from '../delivery/requests';

export interface TransformInput {
  readonly sourceId: string;
  readonly destinationId: string;
  readonly events: readonly FerryEvent[];
}

export type TransformOutcome =
  | { readonly messageId: string; readonly outcome: 'ok'; readonly requests: readonly DeliveryRequest[] }
  | { readonly messageId: string; readonly outcome: 'filtered'; readonly reason: string }
  | { readonly messageId: string; readonly outcome: 'aborted'; readonly reason: string };

export interface TransformDeps {
  readonly workspace: Workspace;
  /** Where destinations' user transformations run; required once any destination has one. */
  readonly sandboxes?: UserTransformationSandboxes;
  /**
   * Time after which no new transformEvent call starts in this call; the events not reached are left
   * out of the outcomes and the delivery step leaves them for its next run. Keeps a batch of slow
   * transformations inside the step's timeout.
   * @default Infinity
   */
  readonly userTransformationBudgetMs?: number;
}

/**
 * Maps each event to the requests its destination expects, after the destination's user
 * transformation, if any: each event that transformation returns goes through the destination's
 * transform, and the requests are concatenated in order. Bad event data and everything the user's
 * code does abort that event only; any other error is Ferry's own fault and fails the delivery step,
 * which the workflow retries.
 *
 * With a user transformation the outcomes may cover only a prefix of the events (see
 * userTransformationBudgetMs); the step delivers that prefix and leaves the rest for its next run.
 */
export function createTransform({ workspace, sandboxes, userTransformationBudgetMs }: TransformDeps) {
  return async function transform(input: TransformInput): Promise<TransformOutcome[]> {
    const destination = workspace.destination(input.sourceId, input.destinationId);
    let events = input.events;
    let transformed: UserTransformationResult[] | undefined;
    if (destination && destination.transformations.length > 0 && !destination.transformation) {
      throw new Error(`destination ${destination.id} has a user transformation, but the workspace was loaded without compiling it`);
    }
    if (destination?.transformation) {
      if (!sandboxes) throw new Error('createTransform needs sandboxes: destinations have user transformations');
      const source = workspace.source(input.sourceId)!;
      transformed = await runUserTransformation(
        sandboxes,
        destination.transformation,
        events,
        { sourceId: source.id, sourceName: source.name, destinationId: destination.id, destinationName: destination.name, destinationType: destination.definition.name },
        { budgetMs: userTransformationBudgetMs },
      );
      events = events.slice(0, transformed.length);
    }
    return events.map((event, i): TransformOutcome => {
      const { messageId } = event;
      if (!destination) {
        return { messageId, outcome: 'aborted', reason: `destination ${input.destinationId} is no longer in the workspace config` };
      }
      const result = transformed?.[i];
      if (!result) return destinationOutcome(event, destination);
      if (result.kind === 'aborted') return { messageId, outcome: 'aborted', reason: result.reason };
      if (result.events.length === 0) {
        return { messageId, outcome: 'filtered', reason: `user transformation "${destination.transformation!.name}" dropped the event` };
      }
      return combined(messageId, result.events.map((output) => destinationOutcome(output, destination)));
    });
  };
}

/** The destination's outcome for one event, keyed by the event's own messageId. */
function destinationOutcome(event: FerryEvent, destination: Destination): TransformOutcome {
  const { messageId } = event;
  const { definition } = destination;
  if (!definition.supportedMessageTypes.includes(event.type)) {
    return { messageId, outcome: 'filtered', reason: `${definition.name} does not take ${event.type} events` };
  }
  const filteredBy = eventFilterReason(event, destination.config);
  if (filteredBy) return { messageId, outcome: 'filtered', reason: filteredBy };
  try {
    return { messageId, outcome: 'ok', requests: definition.transform(event, destination.config, { destinationId: destination.id }) };
  } catch (err) {
    if (err instanceof TransformError) return { messageId, outcome: 'aborted', reason: err.message };
    throw err;
  }
}

/**
 * One outcome for an input event the user transformation turned into several: any abort aborts it
 * (its requests go as one delivery item, so a part cannot be delivered alone); otherwise the kept
 * events' requests in order, or filtered when the destination took none of them.
 */
function combined(messageId: string, outcomes: readonly TransformOutcome[]): TransformOutcome {
  const aborted = outcomes.find((o) => o.outcome === 'aborted');
  if (aborted) return { ...aborted, messageId };
  const kept = outcomes.flatMap((o) => (o.outcome === 'ok' ? [o] : []));
  if (kept.length === 0) return { ...outcomes[0]!, messageId };
  return { messageId, outcome: 'ok', requests: kept.flatMap((o) => o.requests) };
}
