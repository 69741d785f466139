/**
 * Users hash into a fixed number of buckets; each bucket is relayed by one relay at a time, so a
 * user's rows always go through the same relay, in order.
 */

/** FNV-1a over the source and user key: stable across processes and versions, cheap, well spread. */
export function bucketOf(sourceId: string, userKey: string, buckets: number): number {
  let hash = 0x811c9dc5;
  const text = `${sourceId}\0${userKey}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
}
