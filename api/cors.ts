import type { RequestHandler } from 'express';

/**
 * CORS for browser SDKs on any site. Any origin may send events because the write key, not the
 * origin, authenticates a request, and the gateway sets no cookies, so echoing the origin with
 * credentials allowed (which the SDKs' XHRs need) exposes nothing. Preflights echo the requested
 * headers: the browser SDK sends its own (SentAt, AnonymousId, …), and a fixed list that lacks one of
 * them makes the browser block every event.
 */
export function cors({ maxAgeSeconds = 86_400 }: { maxAgeSeconds?: number } = {}): RequestHandler {
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.vary('Origin');
    }
    if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    const requested = req.headers['access-control-request-headers'];
    if (requested) res.setHeader('Access-Control-Allow-Headers', requested);
    res.vary('Access-Control-Request-Headers');
    res.setHeader('Access-Control-Max-Age', String(maxAgeSeconds));
    res.status(204).end();
  };
}
