/**
 * RudderStack-style event filtering: a destination config may let through only the track events it
 * names (allow list) or drop the ones it names (deny list). Only track events are filtered, by their
 * exact (trimmed) name, the way RudderStack's SDKs and server do it.
 */
import { z } from 'zod';
import type { FerryEvent } from '../../events/event';

const eventNames = z
  .array(z.object({ eventName: z.string({ error: 'eventName must be a string' }) }, { error: 'each entry must be { eventName }' }), { error: 'must be a list of { eventName }' })
  .default([]);

/** RudderStack's config keys; spread into each destination's config schema. */
export const eventFilterFields = {
  /** @default disable */
  eventFilteringOption: z
    .enum(['disable', 'whitelistedEvents', 'blacklistedEvents'], { error: 'eventFilteringOption must be "disable", "whitelistedEvents" or "blacklistedEvents"' })
    .default('disable'),
  /** With `whitelistedEvents`, the only track events delivered. An empty list delivers no track event. @default [] */
  whitelistedEvents: eventNames,
  /** With `blacklistedEvents`, the track events never delivered. @default [] */
  blacklistedEvents: eventNames,
};

const eventFilterSchema = z.object(eventFilterFields);
export type EventFilterConfig = z.infer<typeof eventFilterSchema>;

interface CompiledFilter {
  readonly mode: 'allow' | 'deny';
  readonly names: ReadonlySet<string>;
}

/** Parsed configs live as long as the workspace, so each is compiled once. */
const compiled = new WeakMap<object, CompiledFilter | null>();

function compile(config: unknown): CompiledFilter | null {
  if (config === null || typeof config !== 'object') return null;
  const cached = compiled.get(config);
  if (cached !== undefined) return cached;
  const parsed = eventFilterSchema.safeParse(config);
  let filter: CompiledFilter | null = null;
  if (parsed.success && parsed.data.eventFilteringOption !== 'disable') {
    const allow = parsed.data.eventFilteringOption === 'whitelistedEvents';
    const list = allow ? parsed.data.whitelistedEvents : parsed.data.blacklistedEvents;
    // The RudderStack UI leaves an empty row in an untouched list; it names no event.
    const names = new Set(list.map((e) => e.eventName.trim()).filter((name) => name !== ''));
    filter = { mode: allow ? 'allow' : 'deny', names };
  }
  compiled.set(config, filter);
  return filter;
}

/**
 * Why the destination's event filter drops this event, or undefined when it passes. `config` is the
 * destination's parsed config; one without the filter keys filters nothing.
 */
export function eventFilterReason(event: FerryEvent, config: unknown): string | undefined {
  if (event.type !== 'track') return undefined;
  const filter = compile(config);
  if (!filter) return undefined;
  const name = (event.event ?? '').trim();
  if (filter.mode === 'allow') {
    return filter.names.has(name) ? undefined : `track event "${name}" is not in the destination's allow list (whitelistedEvents)`;
  }
  return filter.names.has(name) ? `track event "${name}" is in the destination's deny list (blacklistedEvents)` : undefined;
}
