/**
 * The gateway's side of its metrics: a middleware counting every answered request by route pattern,
 * and the /metrics handler.
 */
import type { Request, RequestHandler } from 'express';
import type { GatewayMetrics } from './gateway';

/** Requests no route matched (404s, mostly scanners): one label, whatever path they asked for. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Counts each request once answered. The route is the pattern that matched (`/v1/track`,
 * `/admin/destinations/:id/pause`), never the raw path, so a client cannot create series at will.
 * `ingestRoutes` are also timed into the ingest histogram.
 */
export function requestMetrics(metrics: GatewayMetrics, ingestRoutes: ReadonlySet<string>): RequestHandler {
  return (req, res, next) => {
    const startedAt = process.hrtime.bigint();
    res.once('finish', () => {
      const pattern = routeOf(req);
      metrics.requests.inc({ route: pattern, method: req.method, status: String(res.statusCode) });
      if (ingestRoutes.has(pattern)) metrics.ingestSeconds.observe({ route: pattern }, Number(process.hrtime.bigint() - startedAt) / 1e9);
    });
    next();
  };
}

/** The matched pattern, with the mount point of the router that answered (`/admin`). */
function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : UNMATCHED_ROUTE;
}

export function metricsHandler(metrics: GatewayMetrics): RequestHandler {
  return async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
