import type { HttpDeliveryRequest } from '../../delivery/requests';
import type { DeliveryOutcome, SendOptions } from './transport';

const MAX_BODY_KEPT = 2_000;

export async function sendHttp(request: HttpDeliveryRequest, options: SendOptions): Promise<DeliveryOutcome> {
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: { ...request.headers, 'idempotency-key': options.idempotencyKey },
      body: wireBody(request),
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

/**
 * A form body goes as URLSearchParams, which fetch labels `application/x-www-form-urlencoded` unless
 * the request sets its own content-type.
 */
function wireBody(request: HttpDeliveryRequest): string | URLSearchParams | undefined {
  if (request.encoding === 'form') return new URLSearchParams(request.body);
  return request.body === undefined ? undefined : JSON.stringify(request.body);
}

/**
 * The URL as origin and path only: the query string and userinfo can carry secrets (GA4's api_secret,
 * a webhook's basic-auth password), and these messages are stored with dead letters and shown to operators.
 */
function describeUrl(url: string): string {
  try {
    const { origin, pathname } = new URL(url);
    return `${origin}${pathname}`;
  } catch {
    return 'an unparseable URL';
  }
}

function describeNetworkError(err: unknown, url: string): string {
  const where = describeUrl(url);
  if (isErrorLike(err) && err.name === 'TimeoutError') return `timed out calling ${where}`;
  const detail = isErrorLike(err) ? String((isErrorLike(err.cause) ? err.cause : err).message) : String(err);
  return `network error calling ${where}: ${withoutUrl(detail, url, where)}`;
}

/** fetch quotes the whole URL in some errors (e.g. "…URL that includes credentials: <url>"). */
function withoutUrl(text: string, url: string, where: string): string {
  let out = text.split(url).join(where);
  try {
    out = out.split(new URL(url).href).join(where);
  } catch {
    // Not a URL: only the raw text can appear.
  }
  return out;
}

/** Checked by shape, not instanceof: fetch's errors come from another realm inside Jest's sandbox. */
function isErrorLike(value: unknown): value is { readonly name?: unknown; readonly message: unknown; readonly cause?: unknown } {
  return typeof value === 'object' && value !== null && 'message' in value;
}
