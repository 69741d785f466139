import type { Pool } from 'pg';
import type { Workspace } from '../config/workspace';
import { createRecordDeadLetters } from './deadLetters';
import { createDeliver } from './deliver/deliver';
import { sendHttp } from './deliver/http';
import { createTransform } from './transform/transform';
import type { PipelineSettings } from './types';

export interface ActivityDeps {
  readonly pool: Pool;
  readonly workspace: Workspace;
  readonly settings: PipelineSettings;
  /** Timeout of one request to a destination. */
  readonly httpTimeoutMs: number;
}

export function createActivities({ pool, workspace, settings, httpTimeoutMs }: ActivityDeps) {
  return {
    /** The worker's settings, read by each workflow run so they live in one place: the worker's env. */
    async pipelineSettings(): Promise<PipelineSettings> {
      return settings;
    },
    transform: createTransform({ workspace }),
    deliver: createDeliver({ workspace, timeoutMs: httpTimeoutMs, transports: { http: sendHttp } }),
    recordDeadLetters: createRecordDeadLetters({ pool }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
