import type { HttpDeliveryRequest } from '../../delivery/requests';
import type { DeliveryOutcome, SendOptions } from './transport';

const MAX_BODY_KEPT = 2_000;

export async function sendHttp(request: HttpDeliveryRequest, options: SendOptions): Promise<DeliveryOutcome> {
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: { ...request.headers, 'idempotency-key': options.idempotencyKey },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'follow',
    });
  } catch (err) {
    return { kind: 'retryable', error: describeNetworkError(err, request.url), throttled: false };
  }
  const body = await readBody(response);
  const status = response.status;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const throttled = status === 429 || status === 408;
  if (status >= 400 && status < 500 && !throttled) return { kind: 'rejected', status, body };
  return {
    kind: 'retryable',
    status,
    body,
    error: `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`,
    throttled,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
  };
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function readBody(response: Response): Promise<string> {
  try {
    const text = await response.text();
    return text.length > MAX_BODY_KEPT ? `${text.slice(0, MAX_BODY_KEPT)}…` : text;
  } catch {
    return '';
  }
}

function describeNetworkError(err: unknown, url: string): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `timed out calling ${url}`;
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return `network error calling ${url}: ${cause ?? (err instanceof Error ? err.message : String(err))}`;
}
