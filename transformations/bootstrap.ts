/**
 * The code Ferry runs inside each isolate before the user's module. It keeps the intrinsics it needs
 * from before the user's code could replace them, calls the exported function and answers with one
 * JSON string, so only strings cross the isolate boundary and the host never touches an object the
 * user's code made.
 */
import type { TransformationMode } from './types';

/**
 * Body of a closure (isolated-vm's evalClosure) returning `{ setup, run }`:
 * - `setup(namespace)` picks the exported function and returns the mode, or throws;
 * - `run(eventsJson, metadataJson)` resolves to `{"events":[...]}` or `{"error":"..."}`. In event mode
 *   the arrays hold exactly one element.
 */
export const BOOTSTRAP_SOURCE = String.raw`
'use strict';
const parse = JSON.parse;
const stringify = JSON.stringify;
const isArray = Array.isArray;
const SafeMap = Map;
const SafeWeakMap = WeakMap;
const assign = Object.assign;
const toText = String;
let mode;
let userFunction;

function describe(err) {
  try {
    if (err !== null && typeof err === 'object' && typeof err.message === 'string') return err.message || toText(err.name);
    return toText(err);
  } catch {
    return 'the transformation threw a value that cannot be described';
  }
}

function emitted(value) {
  if (value === null || value === undefined) return [];
  const list = isArray(value) ? value : [value];
  const out = [];
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (item === null || item === undefined) continue;
    if (typeof item !== 'object' || isArray(item)) {
      const got = isArray(item) ? 'a nested array' : typeof item;
      throw new TypeError((mode === 'batch' ? 'transformBatch' : 'transformEvent') + ' must return an event object, an array of events, null or undefined; got ' + got);
    }
    out[out.length] = item;
  }
  return out;
}

// Looked up by identity first, so an event whose messageId the code changed still finds its metadata.
function metadataLookup(events, metas) {
  const byObject = new SafeWeakMap();
  const byId = new SafeMap();
  for (let i = 0; i < events.length; i++) {
    byObject.set(events[i], metas[i]);
    byId.set(metas[i].messageId, metas[i]);
  }
  return function metadata(event) {
    if (event === null || typeof event !== 'object') return {};
    const found = byObject.get(event) || byId.get(event.messageId);
    return found ? assign({}, found) : {};
  };
}

return {
  setup(namespace) {
    if (typeof namespace.transformBatch === 'function') {
      mode = 'batch';
      userFunction = namespace.transformBatch;
    } else if (typeof namespace.transformEvent === 'function') {
      mode = 'event';
      userFunction = namespace.transformEvent;
    } else {
      throw new TypeError('the code must export a function named transformEvent or transformBatch');
    }
    return mode;
  },
  async run(eventsJson, metadataJson) {
    try {
      const events = parse(eventsJson);
      const metadata = metadataLookup(events, parse(metadataJson));
      const result = await (mode === 'batch' ? userFunction(events, metadata) : userFunction(events[0], metadata));
      return stringify({ events: emitted(result) });
    } catch (err) {
      return stringify({ error: describe(err) });
    }
  },
};
`;

export type SandboxAnswer = { readonly events: readonly Record<string, unknown>[] } | { readonly error: string };

/** Parses `run`'s answer; undefined when it has another shape (the user's code broke an intrinsic). */
export function parseAnswer(text: unknown): SandboxAnswer | undefined {
  if (typeof text !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const answer = value as { events?: unknown; error?: unknown };
  if (typeof answer.error === 'string') return { error: answer.error };
  if (!Array.isArray(answer.events)) return undefined;
  if (!answer.events.every((e) => e !== null && typeof e === 'object' && !Array.isArray(e))) return undefined;
  return { events: answer.events as Record<string, unknown>[] };
}

export function isMode(value: unknown): value is TransformationMode {
  return value === 'event' || value === 'batch';
}

/** Module specifier of the user's code, shown in its stack traces. */
export function moduleFilename(versionId: string): string {
  return `file:///transformations/${encodeURIComponent(versionId)}.js`;
}
