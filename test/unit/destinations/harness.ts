/**
 * Runs one fixture event through the real transform activity (config parsed as at load, message-type
 * and event filtering, the destination's transform, TransformError handling) for one destination.
 */
import { createTransform } from '../../../activities/transform/transform';
import type { TransformOutcome } from '../../../activities/types';
import { parseWorkspace } from '../../../config/workspace';
import type { FerryEvent } from '../../../events/event';

type WithoutMessageId<T> = T extends unknown ? Omit<T, 'messageId'> : never;
export type ExpectedOutcome = WithoutMessageId<TransformOutcome>;

export interface TransformCase {
  readonly id: string;
  readonly description: string;
  readonly input: { readonly config: Record<string, unknown>; readonly event: FerryEvent };
  readonly expected: ExpectedOutcome;
}

export async function transformOne(definitionName: string, input: TransformCase['input']): Promise<TransformOutcome> {
  const workspace = parseWorkspace(
    {
      sources: [
        {
          id: 'src',
          writeKey: 'write-key',
          enabled: true,
          destinations: [{ id: 'dest', enabled: true, destinationDefinition: { name: definitionName }, config: input.config }],
        },
      ],
    },
    'fixture',
  );
  const outcomes = await createTransform({ workspace })({ sourceId: 'src', destinationId: 'dest', events: [input.event] });
  if (outcomes.length !== 1) throw new Error(`expected one outcome, got ${outcomes.length}`);
  return outcomes[0]!;
}
