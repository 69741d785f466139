/**
 * Text the log cannot hold. The writers pass events to PostgreSQL as JSON, and its json functions
 * refuse a NUL character (`\u0000`) in any string or key, and an unpaired UTF-16 surrogate (which
 * JSON.stringify writes as a lone `\udXXX` escape). One such event would fail the whole group commit,
 * and with it every request sharing that transaction; so the gateway refuses it up front.
 */

/** Path of the first string or key in `value` that the log cannot hold ('' for `value` itself), or undefined. */
export function unstorableTextAt(value: unknown): string | undefined {
  if (typeof value === 'string') return storable(value) ? undefined : '';
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = unstorableTextAt(value[i]);
      if (at !== undefined) return beneath(`[${i}]`, at);
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!storable(key)) return JSON.stringify(key);
    const at = unstorableTextAt((value as Record<string, unknown>)[key]);
    if (at !== undefined) return beneath(key, at);
  }
  return undefined;
}

/** `at`, a path inside the value at `step`, as a path from the value that holds it. */
function beneath(step: string, at: string): string {
  return at === '' || at.startsWith('[') ? `${step}${at}` : `${step}.${at}`;
}

function storable(text: string): boolean {
  return !text.includes('\0') && (text as string & { isWellFormed(): boolean }).isWellFormed();
}
