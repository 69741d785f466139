/**
 * Runs one fixture event through the real transform activity (config parsed as at load, message-type
 * and event filtering, the destination's transform, TransformError handling) for one destination.
 */
import { createTransform } from '../../../activities/transform';
import type { TransformOutcome } from '../../../activities/transform';
import { parseWorkspace } from '../../../config/workspace';
import { destinationDefinition } from '../../../destinations/registry';
import type { FerryEvent } from '../../../events/event';

type WithoutMessageId<T> = T extends unknown ? Omit<T, 'messageId'> : never;
export type ExpectedOutcome = WithoutMessageId<TransformOutcome>;

export interface TransformCase {
  readonly id: string;
  readonly description: string;
  readonly input: { readonly config: Record<string, unknown>; readonly event: FerryEvent };
  readonly expected: ExpectedOutcome;
}

/**
 * A web event as the gateway would have enriched it, with `context` given per destination's fixtures
 * and any field overridden.
 */
export function fixtureEvent(context: Record<string, unknown>, fields: Partial<FerryEvent> & Pick<FerryEvent, 'type'>): FerryEvent {
  return {
    messageId: 'msg-0001',
    rudderId: '5c2f5b1e-8a43-5d0e-9d6f-0b7b0f3f2a11',
    receivedAt: '2024-05-01T10:00:01.000Z',
    timestamp: '2024-05-01T10:00:00.000Z',
    userId: 'user-1',
    anonymousId: 'anon-1',
    request_ip: '203.0.113.7',
    channel: 'web',
    context,
    ...fields,
  };
}

/**
 * The outcome as the transform stores it (dead letters keep its requests) and as the deliver step
 * sends it, after the destination added its credentials.
 */
export async function transformAndAuthorize(definitionName: string, input: TransformCase['input']): Promise<{ stored: TransformOutcome; sent: TransformOutcome }> {
  const stored = await transformOne(definitionName, input);
  const definition = destinationDefinition(definitionName)!;
  const config = definition.configSchema.parse(input.config);
  if (stored.outcome !== 'ok' || !definition.authorize) return { stored, sent: stored };
  const requests = stored.requests.map((r) => (r.kind === 'http' ? definition.authorize!(r, config) : r));
  return { stored, sent: { ...stored, requests } };
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
