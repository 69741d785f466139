import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Keys whose values must never reach a log line, at any level: credentials, and the parts of an event
 * that carry what a user did. Code logs ids (workflowId, messageId, destinationId) instead; this list
 * catches an object logged whole by mistake, e.g. an error carrying the request it failed on.
 */
export const REDACTED_KEYS = ['authorization', 'cookie', 'writeKey', 'token', 'password', 'apiKey', 'api_key', 'api_secret', 'secret', 'properties', 'traits', 'context', 'payload', 'body'] as const;

/** Each key at the top of a log record, one level down, and in a logged request's or error's headers. */
export const REDACT_PATHS = [
  ...REDACTED_KEYS,
  ...REDACTED_KEYS.map((key) => `*.${key}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'err.config.headers.authorization',
];

/**
 * JSON logs on stdout (or `destination`), one line per record, tagged with the component that wrote
 * them, with REDACTED_KEYS censored.
 */
export function createLogger(component: string, level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { component }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
