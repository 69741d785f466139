/**
 * GET /sourceConfig: the source's settings in the shape RudderStack's control plane serves to its
 * browser SDK, which loads them before it sends any event.
 */
import type { Source } from '../config/workspace';

export interface SourceConfigResponse {
  readonly isHosted: false;
  readonly updatedAt: string;
  readonly source: {
    readonly id: string;
    readonly name: string;
    readonly writeKey: string;
    readonly enabled: boolean;
    readonly workspaceId: string;
    readonly config: Record<string, unknown>;
    readonly destinations: readonly unknown[];
  };
}

/**
 * Lists no destinations: Ferry delivers every event server-side (cloud mode), so the SDK has no
 * device-mode integration to load, and destination configs (which hold credentials) never reach a
 * browser.
 */
export function sourceConfigResponse(source: Source, workspaceId: string, updatedAt: Date): SourceConfigResponse {
  return {
    isHosted: false,
    updatedAt: updatedAt.toISOString(),
    source: {
      id: source.id,
      name: source.name,
      writeKey: source.writeKey,
      enabled: source.enabled,
      workspaceId,
      config: {},
      destinations: [],
    },
  };
}
