import type { z } from 'zod';
import { describeIssues } from '../config/errors';
import type { RequestFacts } from './enrich';
import { enrich } from './enrich';
import { GatewayError, GatewayErrorType } from './errors';
import { batchBodySchema, eventSchema, isEventType, type ValidEvent } from './schemas';
import type { EventType, FerryEvent } from '../events/event';
import { isRecord } from '../events/json';
import { unstorableTextAt } from '../log/storableText';

/** Validates a single-event body; the path fixes the type. */
export function parseSingle(body: unknown, type: EventType, facts: RequestFacts): FerryEvent[] {
  if (!isRecord(body)) throw invalid('Invalid request body: expected a JSON object');
  return [enrich(checkEvent({ ...body, type }, ''), facts)];
}

/** Validates a `{ batch: [...] }` body; every element keeps its own type, and one bad element rejects all. */
export function parseBatch(body: unknown, facts: RequestFacts): FerryEvent[] {
  if (!isRecord(body)) throw invalid('Invalid request body: expected a JSON object');
  const envelope = check(batchBodySchema, body, '');
  if (envelope.batch.length === 0) throw invalid('Invalid request body: batch is empty');
  const withEnvelope: RequestFacts = { ...facts, batchSentAt: envelope.sentAt ?? facts.batchSentAt };
  return envelope.batch.map((element, index) => {
    const at = `batch[${index}]`;
    if (!isRecord(element)) throw invalid(`Invalid request body: ${at} is not an object`);
    if (!isEventType(element.type)) throw invalid(`Invalid request body: ${at}.type must be one of track, identify, page, screen, group, alias`);
    // `type` first, for V8's fast copy: see enrich.
    const merged = {
      type: element.type,
      ...element,
      context: mergeObjects(envelope.context, element.context),
      integrations: mergeObjects(envelope.integrations, element.integrations),
    };
    return enrich(checkEvent(merged, at), withEnvelope);
  });
}

/** One event, valid and storable in the log. */
function checkEvent(value: unknown, at: string): ValidEvent {
  const event = check(eventSchema, value, at);
  const unstorable = unstorableTextAt(event);
  if (unstorable !== undefined) {
    const where = [at, unstorable].filter(Boolean).join('.') || 'the event';
    throw invalid(`Invalid request body: ${where} holds a NUL character (\\u0000) or an unpaired UTF-16 surrogate, which the event log cannot store`);
  }
  return event;
}

function check<S extends z.ZodType>(schema: S, value: unknown, at: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return keepProtoKey(value, parsed.data);
  const issues = parsed.error.issues.map((i) => ({ ...i, path: at ? [at, ...i.path] : i.path }));
  throw invalid(`Invalid request body: ${describeIssues(issues).replace(/\n/g, '; ')}`);
}

/**
 * zod leaves a `__proto__` key out of the object it parses (assigned, it would replace the prototype).
 * JSON.parse made it an ordinary property of the body, and the event keeps it as one.
 */
function keepProtoKey<T>(raw: unknown, parsed: T): T {
  if (isRecord(raw) && isRecord(parsed) && Object.hasOwn(raw, '__proto__')) {
    Object.defineProperty(parsed, '__proto__', { value: raw['__proto__'], enumerable: true, writable: true, configurable: true });
  }
  return parsed;
}

function invalid(message: string): GatewayError {
  return new GatewayError(GatewayErrorType.invalidRequest, message);
}

/** Envelope-level context/integrations apply to every element, the element's own keys winning. */
function mergeObjects(outer: unknown, inner: unknown): Record<string, unknown> | undefined {
  if (!isRecord(outer)) return isRecord(inner) ? inner : (inner as undefined);
  return { ...outer, ...(isRecord(inner) ? inner : {}) };
}
