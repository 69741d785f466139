import type { Request, RequestHandler } from 'express';
import type { Source, Workspace } from '../config/workspace';
import { GatewayError, GatewayErrorType } from './errors';

declare module 'express-serve-static-core' {
  interface Request {
    /** The source whose write key authenticated this request. */
    source?: Source;
  }
}

/** The write key from HTTP Basic auth: it is the username, and any password is accepted. */
export function writeKeyFromBasicAuth(header: string | undefined): string | undefined {
  const match = header?.match(/^Basic\s+(.+)$/i);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon === -1 ? decoded : decoded.slice(0, colon);
  return key || undefined;
}

/** `?writeKey=`, which browsers use where they cannot set headers (sendBeacon, pixels, the SDK's config load). */
export function writeKeyFromQuery(req: Request): string | undefined {
  return queryOf(req).get('writeKey') || undefined;
}

/** The request's query string as URLSearchParams, independent of express's query parser setting. */
export function queryOf(req: Request): URLSearchParams {
  const at = req.originalUrl.indexOf('?');
  return new URLSearchParams(at === -1 ? '' : req.originalUrl.slice(at + 1));
}

export interface AuthOptions {
  /** Also accept the write key as `?writeKey=` when there is no Basic auth. @default false */
  readonly allowQuery?: boolean;
}

/** Finds the source a write key belongs to: unknown or missing keys are refused 401, disabled sources 404. */
export function sourceFor(workspace: Workspace, req: Request, { allowQuery = false }: AuthOptions = {}): Source {
  const writeKey = writeKeyFromBasicAuth(req.headers.authorization) ?? (allowQuery ? writeKeyFromQuery(req) : undefined);
  const source = writeKey === undefined ? undefined : workspace.sourceByWriteKey(writeKey);
  if (!source) throw new GatewayError(GatewayErrorType.unauthorized, 'Invalid write key');
  if (!source.enabled) throw new GatewayError(GatewayErrorType.sourceDisabled, 'Source is disabled');
  return source;
}

/** Authenticates the source by write key before the body is read. */
export function authenticate(workspace: Workspace, options: AuthOptions = {}): RequestHandler {
  return (req, _res, next) => {
    try {
      req.source = sourceFor(workspace, req, options);
      next();
    } catch (err) {
      next(err);
    }
  };
}
