import type { RequestHandler } from 'express';
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

/** Authenticates the source by write key; unknown keys get 401, disabled sources 404. */
export function authenticate(workspace: Workspace): RequestHandler {
  return (req, _res, next) => {
    const writeKey = writeKeyFromBasicAuth(req.headers.authorization);
    const source = writeKey === undefined ? undefined : workspace.sourceByWriteKey(writeKey);
    if (!source) return next(new GatewayError(GatewayErrorType.unauthorized, 'Invalid write key'));
    if (!source.enabled) return next(new GatewayError(GatewayErrorType.sourceDisabled, 'Source is disabled'));
    req.source = source;
    next();
  };
}
