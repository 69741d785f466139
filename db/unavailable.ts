/**
 * Whether an error means a database (or another service) could not be reached, rather than that it
 * answered with an error: refused or dropped connections, PostgreSQL shutting down or out of
 * connections, however deep in the cause chain. An outage, not a bug.
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006']);
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|connection timeout/i;

export function isUnavailableError(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 10) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  if (UNAVAILABLE_MESSAGES.test(err.message)) return true;
  if (err instanceof AggregateError && err.errors.some((e) => isUnavailableError(e, depth + 1))) return true;
  return isUnavailableError(err.cause, depth + 1);
}
