import type { WorkspaceOptions } from '../../../config/workspace';
import { TransformationLoader } from '../../../transformations/loader';
import { checkTransformationCode } from '../../../transformations/compile';
import type { SandboxLimits } from '../../../transformations/limits';
import type { UserTransformation } from '../../../transformations/types';
import type { FerryEvent } from '../../../events/event';

let versions = 0;

/** A transformation as the workspace loader builds it, with a fresh versionId so tests share no isolate. */
export function transformationOf(code: string, name = 'test'): UserTransformation {
  versions += 1;
  const versionId = `${name}-v${versions}`;
  return { versionId, id: `${name}-id`, name, code, mode: checkTransformationCode(code, versionId) };
}

/** Small limits so that limit tests are quick. */
export const TEST_LIMITS: SandboxLimits = { memoryMb: 16, timeoutMs: 400, isolatesPerVersion: 2 };

export const CONTEXT = {
  sourceId: 'src-1',
  sourceName: 'Web',
  destinationId: 'dest-1',
  destinationName: 'Hook',
  destinationType: 'WEBHOOK',
};

export function trackEvent(messageId: string, properties: Record<string, unknown> = {}, event = 'Order Completed'): FerryEvent {
  return {
    type: 'track',
    messageId,
    userId: 'u1',
    rudderId: 'r-1',
    receivedAt: '2024-05-01T10:00:00.000Z',
    timestamp: '2024-05-01T10:00:00.000Z',
    event,
    properties,
  };
}

/** Workspace options that compile user transformations at load, as the worker does. */
export const COMPILING: WorkspaceOptions = { compiler: (baseDir) => new TransformationLoader(baseDir) };
