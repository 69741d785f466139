/** The one wait-until loop that scripts, benchmarks and tests use to wait for a condition. */
import { FerryError } from '../errors/ferryError';

export interface WaitOptions {
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** @default 100 */
  readonly intervalMs?: number;
  /** Named in the timeout error, e.g. "the worker to print 'worker running'". */
  readonly what?: string;
}

/** Thrown when a waited-for condition did not come true in time; carries the last error the check threw. */
export class WaitTimeoutError extends FerryError {
  constructor(
    message: string,
    readonly lastError?: unknown,
  ) {
    super(message, { cause: lastError });
  }
}

/**
 * Calls `check` until it returns a value other than false/undefined, and returns that value. A
 * check that throws is retried (its last error is reported on timeout), so probes of services still
 * starting can simply throw.
 */
export async function waitUntil<T>(check: () => T | false | undefined | Promise<T | false | undefined>, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 100, what = 'a condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, lastError);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
