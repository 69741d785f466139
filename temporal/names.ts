import { defineSearchAttributeKey } from '@temporalio/common';

/** Task queue every pipeline worker polls unless FERRY_TASK_QUEUE overrides it. */
export const DEFAULT_TASK_QUEUE = 'ferry-pipeline';

/**
 * Search attributes Ferry sets on pipeline workflows, so operators can filter in the Web UI,
 * e.g. `FerryStuckDestinations = 'dest-webhook'` lists users whose delivery there is retrying.
 */
export const searchAttributes = {
  sourceId: defineSearchAttributeKey('FerrySourceId', 'KEYWORD'),
  userKey: defineSearchAttributeKey('FerryUserKey', 'KEYWORD'),
  stuckDestinations: defineSearchAttributeKey('FerryStuckDestinations', 'KEYWORD_LIST'),
  /** Destinations this user's lanes are parked on because they (or the whole pipeline) are paused. */
  pausedDestinations: defineSearchAttributeKey('FerryPausedDestinations', 'KEYWORD_LIST'),
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(searchAttributes);

/** `temporal server start-dev --search-attribute` spelling of each search attribute type. */
export const DEV_SERVER_SEARCH_ATTRIBUTE_TYPES = {
  KEYWORD: 'Keyword',
  KEYWORD_LIST: 'KeywordList',
} as const;

const MAX_KEY_PART = 200;

/**
 * The user's lane key: userId when present, else anonymousId, tagged so that a userId and an
 * anonymousId with the same text never share a workflow.
 */
export function userKeyOf(event: { userId?: string; anonymousId?: string }): string {
  if (event.userId) return `user:${clip(event.userId)}`;
  if (event.anonymousId) return `anon:${clip(event.anonymousId)}`;
  throw new Error('event has neither userId nor anonymousId');
}

/** Workflow ids read as `ferry/<source>/<user key>` in the Web UI. */
export function pipelineWorkflowId(sourceId: string, userKey: string): string {
  return `ferry/${sourceId}/${userKey}`;
}

function clip(value: string): string {
  // Temporal caps workflow ids at 1000 bytes; ids this long are pathological but must not fail ingest.
  return value.length <= MAX_KEY_PART ? value : `${value.slice(0, MAX_KEY_PART)}…${value.length}`;
}
