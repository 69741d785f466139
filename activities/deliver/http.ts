/**
 * The `http` transport: node:http(s) with keep-alive agents. Chosen over fetch, whose per-request CPU
 * cost was about three times higher on this machine kind (fetch 976 µs, node:http 322 µs per local
 * round trip, client and server together), which made it the delivery path's largest single cost.
 */
import dns from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import { DEFAULT_ADDRESS_POLICY, DestinationDeniedError, type AddressPolicy } from './addressPolicy';
import type { DeliveryOutcome, SendOptions } from './transport';

const MAX_BODY_KEPT = 2_000;
const MAX_REDIRECTS = 5;

export interface HttpTransportOptions {
  /** Connections kept per destination host. @default 64 */
  readonly maxSocketsPerHost?: number;
  /** Which hosts and addresses requests may go to, redirects included. @default DEFAULT_ADDRESS_POLICY */
  readonly addressPolicy?: AddressPolicy;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export class HttpTransport {
  private readonly agents: { readonly http: http.Agent; readonly https: https.Agent };
  private readonly policy: AddressPolicy;
  private readonly lookup: LookupFunction;

  constructor({ maxSocketsPerHost = 64, addressPolicy = DEFAULT_ADDRESS_POLICY }: HttpTransportOptions = {}) {
    const agentOptions = { keepAlive: true, maxSockets: maxSocketsPerHost, scheduling: 'lifo' as const };
    this.agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
    this.policy = addressPolicy;
    this.lookup = guardedLookup(addressPolicy);
  }

  /** Sends one request; a Transport for DeliveryRequest kind `http`. */
  readonly send = async (request: HttpDeliveryRequest, options: SendOptions): Promise<DeliveryOutcome> => {
    let answer: Answer;
    try {
      answer = await this.exchange(request, options);
    } catch (err) {
      // Refused by the address policy: sending again would be refused again, so the event aborts.
      if (err instanceof DestinationDeniedError) return { kind: 'rejected', body: err.message, notSent: err.message };
      return { kind: 'retryable', error: describeNetworkError(err, request.url), throttled: false };
    }
    const { status, body } = answer;
    if (status >= 200 && status < 300) return { kind: 'delivered', status };
    const throttled = status === 429 || status === 408;
    if (status >= 400 && status < 500 && !throttled) return { kind: 'rejected', status, body };
    const retryAfter = answer.headers['retry-after'];
    return {
      kind: 'retryable',
      status,
      body,
      error: `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`,
      throttled,
      retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0]! : (retryAfter ?? null), Date.now()),
    };
  };

  /** Closes idle connections; requests in flight finish. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** The request and its redirects (as fetch followed them), within one overall timeout. */
  private async exchange(request: HttpDeliveryRequest, options: SendOptions): Promise<Answer> {
    const deadline = Date.now() + options.timeoutMs;
    const headers: Record<string, string> = { ...request.headers, 'idempotency-key': options.idempotencyKey };
    let body = wireBody(request);
    // Labelled as fetch labels a body the request gives no content-type for.
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = request.encoding === 'form' ? 'application/x-www-form-urlencoded;charset=UTF-8' : 'text/plain;charset=UTF-8';
    }
    let method: string = request.method;
    let url = new URL(request.url);
    for (let redirects = 0; ; redirects++) {
      const answer = await this.once(url, method, headers, body, deadline);
      const location = answer.headers.location;
      if (![301, 302, 303, 307, 308].includes(answer.status) || !location || redirects >= MAX_REDIRECTS) return answer;
      url = new URL(location, url);
      // As browsers and fetch do: a 303, or a 301/302 after a POST, is followed with a GET and no body.
      if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
      }
    }
  }

  /**
   * One hop. Its host is checked here (an IP literal never goes through DNS) and each address DNS
   * gives for it in the lookup at connect time, so that every hop of a redirect is checked too.
   */
  private once(url: URL, method: string, headers: Record<string, string>, body: string | undefined, deadline: number): Promise<Answer> {
    const secure = url.protocol === 'https:';
    return new Promise<Answer>((resolve, reject) => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return reject(new TimeoutError());
      if (url.protocol !== 'http:' && !secure) return reject(new DestinationDeniedError(`not sent: ${url.protocol} URLs are not HTTP`, url.hostname));
      const verdict = this.policy.checkHost(url.hostname);
      if (!verdict.allowed) return reject(denied(url.hostname, undefined, verdict.reason));
      const req = (secure ? https : http).request(url, {
        method,
        lookup: this.lookup,
        agent: secure ? this.agents.https : this.agents.http,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      let settled = false;
      // When the worker was too busy to run anything for a while, the timer and the answer both fall
      // due at once, and timers run before sockets are read: the answer, already here, would be
      // thrown away and the event sent again. setImmediate runs after the sockets are read, so the
      // request times out only if its answer really has not come.
      const timer = setTimeout(() => setImmediate(() => settled || req.destroy(new TimeoutError())), remaining);
      const settle = () => {
        settled = true;
        clearTimeout(timer);
      };
      req.once('error', (err) => {
        settle();
        reject(err);
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          // Only the start of an error answer is kept; the rest is read and dropped.
          if (kept < MAX_BODY_KEPT) chunks.push(chunk);
          kept += chunk.length;
        });
        res.once('error', (err) => {
          settle();
          reject(err);
        });
        res.once('end', () => {
          settle();
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text.length > MAX_BODY_KEPT ? `${text.slice(0, MAX_BODY_KEPT)}…` : text });
        });
      });
      req.end(body);
    });
  }
}

function denied(host: string, address: string | undefined, reason: string): DestinationDeniedError {
  const where = address === undefined || address === host ? host : `${host} (${address})`;
  return new DestinationDeniedError(`not sent: ${where} is a denied destination address: ${reason}; see FERRY_DESTINATION_ALLOW`, host, address);
}

/**
 * dns.lookup, refusing a name when any address it resolves to is denied: the check happens on the
 * addresses the socket will connect to, so a name pointed at a metadata address (or re-pointed
 * between a check and the connection, DNS rebinding) is refused before connecting.
 */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      for (const { address } of addresses) {
        const verdict = policy.checkAddress(address);
        if (!verdict.allowed) return callback(denied(hostname, address, verdict.reason), '', 0);
      }
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if (options.all) return (callback as unknown as (e: null, all: dns.LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor() {
    super('timed out');
  }
}

/** The transport the worker uses unless another is passed in. */
const shared = new HttpTransport();
export const sendHttp = shared.send;

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A form body is sent as URL-encoded fields; any other body as JSON text. */
function wireBody(request: HttpDeliveryRequest): string | undefined {
  if (request.encoding === 'form') return new URLSearchParams(request.body).toString();
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
  if (err instanceof TimeoutError) return `timed out calling ${where}`;
  const message = err instanceof Error ? err.message : String(err);
  return `network error calling ${where}: ${withoutUrl(message, url, where)}`;
}

/** Some errors quote the whole URL; it never leaves with its query string. */
function withoutUrl(text: string, url: string, where: string): string {
  let out = text.split(url).join(where);
  try {
    out = out.split(new URL(url).href).join(where);
  } catch {
    // Not a URL: only the raw text can appear.
  }
  return out;
}
