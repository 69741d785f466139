import { FerryError } from '../errors/ferryError';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { JobNotFoundError, ReplayRequestError, UnknownSourceError } from '../ops/replayClient';
import { SupervisorUnavailableError, UnknownDestinationError } from '../ops/supervisorClient';

/** Why the gateway refused a request. Each maps to one HTTP status in the error handler. */
export const GatewayErrorType = {
  unauthorized: 'unauthorized',
  sourceDisabled: 'source_disabled',
  invalidRequest: 'invalid_request',
  tooLarge: 'too_large',
  /** More request headers than the gateway takes (api/limits.ts). */
  tooManyHeaders: 'too_many_headers',
  unsupportedEncoding: 'unsupported_encoding',
  rateLimited: 'rate_limited',
  storeUnavailable: 'store_unavailable',
  notFound: 'not_found',
  /** The admin API could not reach the supervisor (Temporal). */
  supervisorUnavailable: 'supervisor_unavailable',
} as const;
export type GatewayErrorType = (typeof GatewayErrorType)[keyof typeof GatewayErrorType];

const STATUS: Record<GatewayErrorType, number> = {
  unauthorized: 401,
  source_disabled: 404,
  invalid_request: 400,
  too_large: 413,
  too_many_headers: 431,
  unsupported_encoding: 415,
  rate_limited: 429,
  store_unavailable: 503,
  not_found: 404,
  supervisor_unavailable: 503,
};

/** A refusal the client should see; `message` is the plain-text response body. */
export class GatewayError extends FerryError {
  constructor(
    readonly type: GatewayErrorType,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; challenge?: string },
  ) {
    super(message, { cause: options?.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.challenge = options?.challenge;
  }

  readonly retryAfterSeconds?: number;
  /** The `WWW-Authenticate` challenge of a 401, e.g. `Bearer realm="ferry-admin"`. */
  readonly challenge?: string;

  get status(): number {
    return STATUS[this.type];
  }
}

/** body-parser error `type` of a body nested too deep (api/limits.ts's verify hook). */
export const JSON_TOO_DEEP = 'entity.too.deep';

/** body-parser's error types, for the failures it raises before our handlers run. */
const BODY_PARSER_ERRORS: Record<string, GatewayErrorType> = {
  'entity.parse.failed': GatewayErrorType.invalidRequest,
  'entity.too.large': GatewayErrorType.tooLarge,
  'encoding.unsupported': GatewayErrorType.unsupportedEncoding,
  'request.aborted': GatewayErrorType.invalidRequest,
  'request.size.invalid': GatewayErrorType.invalidRequest,
  'charset.unsupported': GatewayErrorType.unsupportedEncoding,
  [JSON_TOO_DEEP]: GatewayErrorType.invalidRequest,
};

const BODY_PARSER_MESSAGES: Partial<Record<GatewayErrorType, string>> = {
  invalid_request: 'Invalid request body: not valid JSON',
  too_large: 'Request size exceeds the limit',
  unsupported_encoding: 'Unsupported content encoding',
};

/**
 * body-parser's refusals. Most carry a `type`; some only an HTTP status, e.g. a body that claims gzip
 * but does not inflate (zlib's error wrapped as a 400).
 */
function fromBodyParser(err: unknown): GatewayError | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const { type: rawType, status } = err as { type?: unknown; status?: unknown };
  let type = typeof rawType === 'string' ? BODY_PARSER_ERRORS[rawType] : undefined;
  if (!type && typeof status === 'number' && status >= 400 && status < 500) {
    type = status === 413 ? GatewayErrorType.tooLarge : status === 415 ? GatewayErrorType.unsupportedEncoding : GatewayErrorType.invalidRequest;
  }
  if (!type) return undefined;
  // Our own verify hook's refusal (api/limits.ts), whose message says which limit.
  if (rawType === JSON_TOO_DEEP && err instanceof Error) return new GatewayError(type, err.message, { cause: err });
  const message = rawType === undefined && type === GatewayErrorType.invalidRequest ? 'Invalid request body: cannot be decoded' : (BODY_PARSER_MESSAGES[type] ?? 'Invalid request');
  return new GatewayError(type, message, { cause: err });
}

/**
 * The supervisor's errors, as the admin API tells them: an unknown destination by its id (the message
 * names only what the client sent), an unreachable supervisor without its internals (they are logged).
 */
function fromSupervisor(err: unknown): GatewayError | undefined {
  if (err instanceof UnknownDestinationError || err instanceof UnknownSourceError || err instanceof JobNotFoundError) {
    return new GatewayError(GatewayErrorType.notFound, err.message, { cause: err });
  }
  if (err instanceof ReplayRequestError) return new GatewayError(GatewayErrorType.invalidRequest, err.message, { cause: err });
  if (err instanceof SupervisorUnavailableError) {
    return new GatewayError(GatewayErrorType.supervisorUnavailable, 'The supervisor is unavailable, retry later', { cause: err, retryAfterSeconds: 5 });
  }
  return undefined;
}

/**
 * The one mapping from an error to what the client is told: a GatewayError as it is, body-parser's
 * refusals and the supervisor's errors as the GatewayError they mean, and undefined for anything else
 * (Ferry's own fault, a 500).
 */
export function refusalOf(err: unknown): GatewayError | undefined {
  return err instanceof GatewayError ? err : (fromBodyParser(err) ?? fromSupervisor(err));
}

/**
 * Prepares the response for a refusal (Retry-After, a log line for 5xx) and returns its status. An
 * error that is no refusal is logged with its internals, which the client never sees.
 */
export function refusalStatus(err: unknown, res: Response, logger: Logger, path: string): number {
  const refusal = refusalOf(err);
  if (!refusal) {
    logger.error({ err, path }, 'unhandled gateway error');
    return 500;
  }
  if (refusal.status >= 500) logger.warn({ err: refusal.cause ?? refusal, path }, refusal.message);
  if (refusal.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(refusal.retryAfterSeconds));
  if (refusal.challenge !== undefined) res.setHeader('WWW-Authenticate', refusal.challenge);
  return refusal.status;
}

const JSON_ERRORS = 'ferryJsonErrors';

/** Marks the responses of the routes below it (the admin API) to carry errors as `{ "error": "…" }`. */
export function jsonErrors(): RequestHandler {
  return (_req, res, next) => {
    res.locals[JSON_ERRORS] = true;
    next();
  };
}

/**
 * Answers every error with its status and a short body: plain text for the SDKs' routes, `{ "error" }`
 * JSON where jsonErrors() marked the response.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const status = refusalStatus(err, res, logger, req.path);
    const message = refusalOf(err)?.message ?? 'Internal error';
    if (res.locals[JSON_ERRORS] === true) res.status(status).json({ error: message });
    else res.status(status).type('text/plain').send(message);
  };
}
