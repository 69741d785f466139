import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';

/** Why the gateway refused a request. Each maps to one HTTP status in the error handler. */
export const GatewayErrorType = {
  unauthorized: 'unauthorized',
  sourceDisabled: 'source_disabled',
  invalidRequest: 'invalid_request',
  tooLarge: 'too_large',
  unsupportedEncoding: 'unsupported_encoding',
  rateLimited: 'rate_limited',
  storeUnavailable: 'store_unavailable',
  notFound: 'not_found',
} as const;
export type GatewayErrorType = (typeof GatewayErrorType)[keyof typeof GatewayErrorType];

const STATUS: Record<GatewayErrorType, number> = {
  unauthorized: 401,
  source_disabled: 404,
  invalid_request: 400,
  too_large: 413,
  unsupported_encoding: 415,
  rate_limited: 429,
  store_unavailable: 503,
  not_found: 404,
};

/** A refusal the client should see; `message` is the plain-text response body. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';

  constructor(
    readonly type: GatewayErrorType,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, { cause: options?.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  readonly retryAfterSeconds?: number;

  get status(): number {
    return STATUS[this.type];
  }
}

/** body-parser's error types, for the failures it raises before our handlers run. */
const BODY_PARSER_ERRORS: Record<string, GatewayErrorType> = {
  'entity.parse.failed': GatewayErrorType.invalidRequest,
  'entity.too.large': GatewayErrorType.tooLarge,
  'encoding.unsupported': GatewayErrorType.unsupportedEncoding,
  'request.aborted': GatewayErrorType.invalidRequest,
  'request.size.invalid': GatewayErrorType.invalidRequest,
  'charset.unsupported': GatewayErrorType.unsupportedEncoding,
};

const BODY_PARSER_MESSAGES: Partial<Record<GatewayErrorType, string>> = {
  invalid_request: 'Invalid request body: not valid JSON',
  too_large: 'Request size exceeds the limit',
  unsupported_encoding: 'Unsupported content encoding',
};

/** Maps every error to a status and a short plain-text body; internals are logged, never returned. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let gatewayError: GatewayError | undefined;
    if (err instanceof GatewayError) {
      gatewayError = err;
    } else if (err && typeof err === 'object' && typeof (err as { type?: unknown }).type === 'string') {
      const type = BODY_PARSER_ERRORS[(err as { type: string }).type];
      if (type) gatewayError = new GatewayError(type, BODY_PARSER_MESSAGES[type] ?? 'Invalid request', { cause: err });
    }
    if (!gatewayError) {
      logger.error({ err, path: req.path }, 'unhandled gateway error');
      res.status(500).type('text/plain').send('Internal error');
      return;
    }
    if (gatewayError.status >= 500) logger.warn({ err: gatewayError.cause ?? gatewayError, path: req.path }, gatewayError.message);
    if (gatewayError.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(gatewayError.retryAfterSeconds));
    res.status(gatewayError.status).type('text/plain').send(gatewayError.message);
  };
}
