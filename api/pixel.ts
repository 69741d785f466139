/**
 * The pixel API (`GET /pixel/v1/track`, `GET /pixel/v1/page`): for places that can only load an image,
 * such as emails and AMP pages. The query string is the event: plain keys are top-level fields and
 * dotted keys nest, so `properties.plan=pro&context.page.path=/x` becomes
 * `{ properties: { plan: 'pro' }, context: { page: { path: '/x' } } }`. Values stay strings.
 */

/** A transparent 1×1 GIF, the answer to every pixel request. */
export const TRANSPARENT_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** Query keys that configure the request rather than describe the event. */
const NOT_EVENT_FIELDS = new Set(['writeKey']);

/** Path segments that would reach Object.prototype through a plain object. */
const UNSAFE_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

/** Builds the event body from the query; a repeated key keeps its last value. */
export function eventFromQuery(params: URLSearchParams): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  for (const [key, value] of params) {
    if (NOT_EVENT_FIELDS.has(key)) continue;
    const segments = key.split('.');
    if (segments.some((s) => s === '' || UNSAFE_SEGMENTS.has(s))) continue;
    let target = event;
    for (const segment of segments.slice(0, -1)) {
      const next = target[segment];
      // A dotted key beneath a plain value replaces that value: the more specific key wins.
      if (next === null || typeof next !== 'object' || Array.isArray(next)) target[segment] = {};
      target = target[segment] as Record<string, unknown>;
    }
    const last = segments[segments.length - 1]!;
    const existing = target[last];
    // A plain key must not wipe out fields that dotted keys have already nested beneath it.
    if (existing !== null && typeof existing === 'object') continue;
    target[last] = value;
  }
  return event;
}
