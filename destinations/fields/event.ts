/**
 * Reading the event-spec fields that several destination transformers map: nested context values,
 * the user's traits, the client's IP and the event time. Pure, so transforms stay pure.
 */
import type { FerryEvent } from '../../events/event';
import { isRecord } from '../../events/json';


/** The value at a dotted path such as `['context', 'os', 'name']`, or undefined. */
export function valueAt(source: unknown, path: readonly string[]): unknown {
  let current = source;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** A non-blank string at the path; numbers are accepted as ids often arrive as numbers. */
export function textAt(source: unknown, path: readonly string[]): string | undefined {
  const value = valueAt(source, path);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

export function numberAt(source: unknown, path: readonly string[]): number | undefined {
  const value = valueAt(source, path);
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function recordAt(source: unknown, path: readonly string[]): Record<string, unknown> | undefined {
  const value = valueAt(source, path);
  return isRecord(value) ? value : undefined;
}

/**
 * The user's traits: browser SDKs send them in `context.traits`, server SDKs at the top level of an
 * identify; the top-level ones are the newer statement, so they win.
 */
export function userTraits(event: FerryEvent): Record<string, unknown> {
  const fromContext = recordAt(event, ['context', 'traits']);
  if (event.type !== 'identify') return { ...fromContext };
  return { ...fromContext, ...event.traits };
}

/** The end user's IP: what the SDK reported, else what the gateway saw. */
export function clientIp(event: FerryEvent): string | undefined {
  return textAt(event, ['context', 'ip']) ?? event.request_ip;
}

/** Epoch milliseconds of the event's (skew-corrected) timestamp, or undefined when unparseable. */
export function eventTimeMs(event: FerryEvent): number | undefined {
  const ms = Date.parse(event.timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

export function isEmpty(record: Record<string, unknown> | undefined): boolean {
  if (!record) return true;
  for (const _ in record) return false;
  return true;
}

/** Copies defined values only, so vendors never see `null` for a field the event did not carry. */
export function definedOnly<T extends object>(record: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) out[key] = value;
  return out as T;
}
