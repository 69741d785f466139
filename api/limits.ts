/**
 * The gateway's limits on what one request may cost before any handler runs: header count and
 * arrival time (enforced by the HTTP server), and JSON nesting depth (checked on the raw body, before
 * it is parsed). Body size is body-parser's `limit` (GatewayOptions.maxRequestBytes).
 */
import http from 'node:http';
import type { RequestHandler } from 'express';
import { FerryError } from '../errors/ferryError';
import { GatewayError, GatewayErrorType, JSON_TOO_DEEP } from './errors';

export interface ServerLimits {
  /** Headers a request may carry; more are refused 431. @default 100 */
  readonly maxHeaders?: number;
  /** Bytes of the request line and headers together; more are refused 431 by Node. @default 16384 */
  readonly maxHeaderBytes?: number;
  /** Time a client has to send the complete headers; then the connection is closed. @default 10000 */
  readonly headersTimeoutMs?: number;
  /** Time a client has to send the complete request, body included. @default 60000 */
  readonly requestTimeoutMs?: number;
}

export const DEFAULT_LIMITS = {
  maxHeaders: 100,
  maxHeaderBytes: 16_384,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  /**
   * Nesting depth of a JSON body. RudderStack's event spec nests 4 or 5 levels (batch → event →
   * context → traits → address); 64 leaves room for deep custom properties.
   */
  maxJsonDepth: 64,
} as const;

/**
 * An HTTP server for the app with the limits applied. headerCountLimit() refuses a request with too
 * many headers (431). Node itself would only drop the headers past its `maxHeadersCount` without a
 * word, and a dropped Host header turns into a bare 400, so it is set above what `maxHeaderBytes` can
 * hold (a header line takes at least 4 bytes): within the size limit no header is dropped, and the
 * count the middleware sees is the true one.
 */
export function createLimitedServer(app: http.RequestListener, limits: ServerLimits = {}): http.Server {
  const { maxHeaders, maxHeaderBytes, headersTimeoutMs, requestTimeoutMs } = { ...DEFAULT_LIMITS, ...limits };
  // Node enforces both timeouts only when it sweeps its connections (every 30 s by default): a sweep
  // at least every second keeps a slow client's allowance close to the configured one.
  const sweepMs = Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 2)));
  const server = http.createServer({ maxHeaderSize: maxHeaderBytes, requestTimeout: requestTimeoutMs, connectionsCheckingInterval: sweepMs }, app);
  server.maxHeadersCount = Math.max(maxHeaders + 1, Math.ceil(maxHeaderBytes / 4) + 1);
  // Node requires headersTimeout <= requestTimeout.
  server.headersTimeout = Math.min(headersTimeoutMs, requestTimeoutMs);
  return server;
}

/** Refuses a request with more than `maxHeaders` headers (431), whatever server it came through. */
export function headerCountLimit(maxHeaders: number = DEFAULT_LIMITS.maxHeaders): RequestHandler {
  return (req, _res, next) => {
    if (req.rawHeaders.length / 2 > maxHeaders) {
      next(new GatewayError(GatewayErrorType.tooManyHeaders, `Too many request headers: at most ${maxHeaders}`));
      return;
    }
    next();
  };
}

/**
 * The body is nested deeper than allowed. Thrown from body-parser's `verify`, which wraps what it
 * catches with http-errors: so it carries its own `status` and `type` for errors.ts to map, rather than
 * being a GatewayError (whose status is a getter http-errors would try to overwrite).
 */
export class JsonTooDeepError extends FerryError {
  readonly status = 400;
  readonly type = JSON_TOO_DEEP;
  constructor(readonly maxDepth: number) {
    super(`Invalid request body: JSON nested deeper than ${maxDepth} levels`);
  }
}

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The deepest nesting of objects and arrays in JSON text, counted on the bytes in one pass without
 * parsing: a hostile body a million brackets deep costs one scan instead of a parse that holds the
 * event loop for a second. Brackets inside strings do not count. UTF-8 multi-byte sequences never
 * contain bytes below 0x80, so a byte scan sees every structural character. Stops counting past
 * `stopAbove`. Text that is not valid JSON gets some depth; the parser refuses it afterwards anyway.
 */
export function jsonDepth(bytes: Uint8Array, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
  }
  return deepest;
}

/**
 * body-parser's `verify` hook refusing bodies nested deeper than `maxDepth`. Bodies in a charset
 * other than UTF-8 (allowed by body-parser, sent by no SDK) are decoded first.
 */
export function jsonDepthLimit(maxDepth: number = DEFAULT_LIMITS.maxJsonDepth): (req: unknown, res: unknown, body: Buffer, encoding: string) => void {
  return (_req, _res, body, encoding) => {
    const bytes = !encoding || /^utf-?8$/i.test(encoding) ? body : Buffer.from(decode(body, encoding), 'utf8');
    if (jsonDepth(bytes, maxDepth) > maxDepth) throw new JsonTooDeepError(maxDepth);
  };
}

function decode(body: Buffer, encoding: string): string {
  try {
    return new TextDecoder(encoding).decode(body);
  } catch {
    // A charset TextDecoder lacks (UTF-32): as latin1, every ASCII bracket and quote is still seen.
    return body.toString('latin1');
  }
}
