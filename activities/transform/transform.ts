import type { Workspace } from '../../config/workspace';
import { destinationDefinition } from '../destinations/registry';
import { TransformError } from '../destinations/definition';
import type { TransformInput, TransformOutcome } from '../types';

/**
 * Maps each event to the requests its destination expects. Bad event data aborts that event only;
 * any other error is Ferry's own fault and fails the activity, so Temporal retries it.
 */
export function createTransform({ workspace }: { workspace: Workspace }) {
  return async function transform(input: TransformInput): Promise<TransformOutcome[]> {
    const destination = workspace.destination(input.sourceId, input.destinationId);
    const definition = destination && destinationDefinition(destination.definitionName);
    return input.events.map((event): TransformOutcome => {
      const { messageId } = event;
      if (!destination || !definition) {
        return { messageId, outcome: 'aborted', reason: `destination ${input.destinationId} is no longer in the workspace config` };
      }
      if (!definition.supportedMessageTypes.includes(event.type)) {
        return { messageId, outcome: 'filtered', reason: `${definition.name} does not take ${event.type} events` };
      }
      try {
        return { messageId, outcome: 'ok', requests: definition.transform(event, destination.config, { destinationId: destination.id }) };
      } catch (err) {
        if (err instanceof TransformError) return { messageId, outcome: 'aborted', reason: err.message };
        throw err;
      }
    });
  };
}
