/**
 * Runs a destination's user transformation over a lane's batch and says, for each input event, which
 * events it became (none: filtered; several: fan-out, in order) or why it was aborted.
 *
 * Attribution in batch mode follows RudderStack: an event returned by transformBatch belongs to the
 * input event with the same messageId. An input no returned event names was dropped. A returned
 * event whose messageId names no input cannot be attributed, so the whole batch is aborted rather
 * than delivering an event no lane item accounts for.
 */
import { z } from 'zod';
import { EVENT_TYPES, type FerryEvent } from '../events/event';
import { SandboxError } from './errors';
import type { UserTransformationSandboxes } from './pool';
import type { EventMetadata, UserTransformation } from './types';

export type UserTransformationResult =
  | { readonly messageId: string; readonly kind: 'events'; readonly events: readonly FerryEvent[] }
  | { readonly messageId: string; readonly kind: 'aborted'; readonly reason: string };

/** Who the events are for, as `metadata(event)` reports it. */
export interface TransformationContext {
  readonly sourceId: string;
  readonly sourceName: string;
  readonly destinationId: string;
  readonly destinationName: string;
  readonly destinationType: string;
}

export interface RunOptions {
  /**
   * In event mode, no new call starts once this many ms have passed, and only the events handled so
   * far get a result; the caller hands the rest to a later call. The first event always runs, so a
   * batch always makes progress. Keeps a batch of slow events inside the transform activity's timeout.
   * @default Infinity
   */
  readonly budgetMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Results for `events` in order: all of them, or in event mode possibly a prefix (see budgetMs).
 * Rejects only when Ferry itself failed; everything the transformation does is a result.
 */
export async function runUserTransformation(
  sandboxes: UserTransformationSandboxes,
  transformation: UserTransformation,
  events: readonly FerryEvent[],
  context: TransformationContext,
  { budgetMs = Infinity, now = Date.now }: RunOptions = {},
): Promise<UserTransformationResult[]> {
  const metadata = events.map((event) => metadataOf(event, transformation, context));
  if (transformation.mode === 'batch') return runBatch(sandboxes, transformation, events, metadata);
  const started = now();
  const results: UserTransformationResult[] = [];
  for (const [i, event] of events.entries()) {
    if (i > 0 && now() - started >= budgetMs) break;
    results.push(await runEvent(sandboxes, transformation, event, metadata[i]!));
  }
  return results;
}

async function runEvent(
  sandboxes: UserTransformationSandboxes,
  transformation: UserTransformation,
  event: FerryEvent,
  metadata: EventMetadata,
): Promise<UserTransformationResult> {
  const { messageId } = event;
  const answer = await callSandbox(sandboxes, transformation, [event], [metadata]);
  if ('error' in answer) return { messageId, kind: 'aborted', reason: answer.error };
  const checked = checkEvents(transformation, answer.events);
  if (typeof checked === 'string') return { messageId, kind: 'aborted', reason: checked };
  return { messageId, kind: 'events', events: checked.map((output) => completed(output, event)) };
}

async function runBatch(
  sandboxes: UserTransformationSandboxes,
  transformation: UserTransformation,
  events: readonly FerryEvent[],
  metadata: readonly EventMetadata[],
): Promise<UserTransformationResult[]> {
  const abortAll = (reason: string) => events.map((e): UserTransformationResult => ({ messageId: e.messageId, kind: 'aborted', reason }));
  const answer = await callSandbox(sandboxes, transformation, events, metadata);
  if ('error' in answer) return abortAll(answer.error);
  const checked = checkEvents(transformation, answer.events);
  if (typeof checked === 'string') return abortAll(checked);
  const inputs = new Map(events.map((e) => [e.messageId, e]));
  const byInput = new Map<string, FerryEvent[]>(events.map((e) => [e.messageId, []]));
  for (const output of checked) {
    const input = output.messageId === undefined ? undefined : inputs.get(output.messageId);
    if (!input) {
      const named = output.messageId === undefined ? 'no messageId' : `messageId "${output.messageId}"`;
      return abortAll(`user transformation "${transformation.name}" returned an event with ${named}, which matches no input event; transformBatch must keep each event's messageId`);
    }
    byInput.get(input.messageId)!.push(completed(output, input));
  }
  return events.map((e): UserTransformationResult => ({ messageId: e.messageId, kind: 'events', events: byInput.get(e.messageId)! }));
}

/** The code's answer, with its exception, a timeout or the isolate's death as `{ error }`. */
async function callSandbox(
  sandboxes: UserTransformationSandboxes,
  transformation: UserTransformation,
  events: readonly FerryEvent[],
  metadata: readonly EventMetadata[],
): Promise<{ events: readonly Record<string, unknown>[] } | { error: string }> {
  try {
    const answer = await sandboxes.call(transformation, events, metadata);
    if ('error' in answer) return { error: `user transformation "${transformation.name}" threw: ${answer.error}` };
    return answer;
  } catch (err) {
    if (err instanceof SandboxError) return { error: err.message };
    throw err;
  }
}

const objectField = z.record(z.string(), z.unknown()).optional();
const text = z.string().optional();
/** Ids may be null to remove them, as SDKs may send them. */
const id = z.string().nullish();

/**
 * What destinations may rely on in an event: the gateway guarantees it for what SDKs send, so the
 * same must hold for what a transformation returns.
 */
const emittedEventSchema = z.looseObject({
  type: z.enum(EVENT_TYPES),
  messageId: z.string().min(1).optional(),
  rudderId: text,
  receivedAt: text,
  timestamp: text,
  originalTimestamp: text,
  sentAt: text,
  event: text,
  name: id,
  userId: id,
  anonymousId: id,
  groupId: id,
  previousId: id,
  properties: objectField,
  traits: objectField,
  context: objectField,
  integrations: objectField,
});

type EmittedEvent = Record<string, unknown> & { readonly messageId?: string };

function checkEvents(transformation: UserTransformation, events: readonly Record<string, unknown>[]): EmittedEvent[] | string {
  const out: EmittedEvent[] = [];
  for (const [i, event] of events.entries()) {
    const parsed = emittedEventSchema.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const at = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
      return `user transformation "${transformation.name}" returned an invalid event (#${i + 1}): ${at}${issue.message}`;
    }
    out.push(event as EmittedEvent);
  }
  return out;
}

/** Fields the gateway sets on every event; an event the code built from scratch takes them from its input. */
const GATEWAY_FIELDS = ['messageId', 'rudderId', 'receivedAt', 'timestamp'] as const;

function completed(output: EmittedEvent, input: FerryEvent): FerryEvent {
  const event: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(output)) if (value !== null || !NULLABLE_IDS.has(key)) event[key] = value;
  for (const key of GATEWAY_FIELDS) if (event[key] === undefined) event[key] = input[key];
  return event as unknown as FerryEvent;
}

const NULLABLE_IDS = new Set(['name', 'userId', 'anonymousId', 'groupId', 'previousId']);

function metadataOf(event: FerryEvent, transformation: UserTransformation, context: TransformationContext): EventMetadata {
  return {
    ...context,
    messageId: event.messageId,
    eventType: event.type,
    ...(event.event === undefined ? {} : { eventName: event.event }),
    ...(transformation.id === undefined ? {} : { transformationId: transformation.id }),
    transformationVersionId: transformation.versionId,
  };
}

/**
 * The budgetMs that keeps a transform activity call inside its start-to-close timeout: the last
 * call may start just before the budget ends and take a sandbox start plus one run, each up to the
 * sandbox timeout. Zero means one event per activity call.
 */
export function userTransformationBudgetMs(activityTimeoutMs: number, sandboxTimeoutMs: number): number {
  return Math.max(0, activityTimeoutMs - 2 * sandboxTimeoutMs - 1_000);
}
