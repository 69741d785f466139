/**
 * The gateway's HTTP API, compatible with RudderStack's and Segment's SDKs: the write key is the Basic
 * auth user (or `?writeKey=` where browsers cannot set headers), bodies are JSON (gzip allowed), and a
 * 200 is only sent once every event of the request is committed to the log (the EventSink).
 */
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Source, Workspace } from '../config/workspace';
import type { EventType, FerryEvent, RoutedEvent } from '../events/event';
import { adminRouter, type AdminOptions } from './admin';
import { authenticate, queryOf, sourceFor } from './auth';
import { cors } from './cors';
import type { RequestFacts } from './enrich';
import { errorHandler, GatewayError, GatewayErrorType, refusalOf, refusalStatus } from './errors';
import type { HealthCheck } from './health';
import { headerCountLimit, jsonDepthLimit } from './limits';
import { LogWriteError } from '../log/writer';
import { createGatewayMetrics, type GatewayMetrics } from '../metrics/gateway';
import { metricsHandler, requestMetrics } from '../metrics/http';
import { ALWAYS_NORMAL, type ModeSource } from './mode';
import { eventFromQuery, TRANSPARENT_GIF } from './pixel';
import { SourceRateLimiter } from './rateLimit';
import { sourceConfigResponse } from './sourceConfig';
import { parseBatch, parseSingle } from './validate';
import { resolveVersion, type VersionInfo } from './version';

/**
 * Stores routed events durably: resolves only once all of them are stored, rejects when none of them
 * is (or it cannot tell): LogWriteError for the store being unavailable, which clients retry.
 */
export interface EventSink {
  append(sourceId: string, routed: readonly RoutedEvent[]): Promise<void>;
}

export interface GatewayOptions {
  readonly workspace: Workspace;
  readonly sink: EventSink;
  readonly health: HealthCheck;
  readonly logger: Logger;
  /** Largest accepted body after decompression. @default 4000 KB */
  readonly maxRequestBytes?: number;
  /** Deepest nesting of objects and arrays a JSON body may have; deeper is refused 400 before parsing. @default 64 */
  readonly maxJsonDepth?: number;
  /** Headers a request may carry; more are refused 431 (see createLimitedServer). @default 100 */
  readonly maxHeaders?: number;
  /** Reported by /health: the mode and the destinations that are not active. @default always 'normal', none paused */
  readonly mode?: ModeSource;
  /** The admin API under /admin (api/admin.ts), behind this bearer token. @default none: /admin/… is 404 */
  readonly admin?: AdminOptions;
  /** Reported by /version. @default package.json and the checkout's git commit */
  readonly version?: VersionInfo;
  /** Per-source token buckets; tests pass one with their own clock. @default a limiter on the monotonic clock */
  readonly rateLimiter?: SourceRateLimiter;
  /** The workspace id /sourceConfig reports to the browser SDK. @default the workspace document's `workspaceId`, else 'ferry' */
  readonly workspaceId?: string;
  /** Counted into and served at GET /metrics. @default a registry of its own, with the mode from `mode` */
  readonly metrics?: GatewayMetrics;
}

const SINGLE_EVENT_PATHS: ReadonlyArray<readonly [string, EventType]> = [
  ['/v1/track', 'track'],
  ['/v1/identify', 'identify'],
  ['/v1/page', 'page'],
  ['/v1/screen', 'screen'],
  ['/v1/group', 'group'],
  ['/v1/alias', 'alias'],
];

const PIXEL_PATHS: ReadonlyArray<readonly [string, EventType]> = [
  ['/pixel/v1/track', 'track'],
  ['/pixel/v1/page', 'page'],
];

const BATCH_PATHS = ['/v1/batch', '/v1/import'] as const;
const BEACON_PATH = '/beacon/v1/batch';

/** The routes that accept events, timed into the ingest latency histogram. */
export const INGEST_ROUTES: ReadonlySet<string> = new Set([...SINGLE_EVENT_PATHS.map(([path]) => path), ...BATCH_PATHS, BEACON_PATH, ...PIXEL_PATHS.map(([path]) => path)]);

export function createApp(options: GatewayOptions): express.Express {
  const { workspace, sink, health, logger, maxRequestBytes = 4_000 * 1024, mode = ALWAYS_NORMAL, workspaceId = options.workspace.workspaceId ?? 'ferry' } = options;
  const version = options.version ?? resolveVersion();
  const limiter = options.rateLimiter ?? new SourceRateLimiter();
  const loadedAt = new Date();
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', true);
  const metrics = options.metrics ?? createGatewayMetrics({ mode, destinationIds: workspace.destinationIds() });
  app.use(requestMetrics(metrics, INGEST_ROUTES));
  app.use(headerCountLimit(options.maxHeaders));
  app.use(cors());

  app.get('/metrics', metricsHandler(metrics));

  app.get('/health', async (_req, res) => {
    const [report, currentMode, pausedDestinations] = await Promise.all([health(), mode.current(), mode.pausedDestinations?.() ?? []]);
    res.status(report.status === 'ok' ? 200 : 503).json({ ...report, mode: currentMode, pausedDestinations });
  });

  if (options.admin) app.use('/admin', adminRouter(options.admin));

  app.get('/version', (_req, res) => {
    res.json(version);
  });

  // The browser SDK asks for `/sourceConfig/?…&writeKey=…`; express's non-strict routing matches both spellings.
  app.get('/sourceConfig', (req, res) => {
    const source = sourceFor(workspace, req, { allowQuery: true });
    res.setHeader('Cache-Control', 'no-store');
    res.json(sourceConfigResponse(source, workspaceId, loadedAt));
  });

  // Every SDK sends JSON, but not always with a JSON content type (sendBeacon sends text/plain).
  const json = express.json({ limit: maxRequestBytes, type: () => true, strict: false, inflate: true, verify: jsonDepthLimit(options.maxJsonDepth) });
  const basicAuth = authenticate(workspace);
  const basicOrQueryAuth = authenticate(workspace, { allowQuery: true });

  /** Rate-limits, then stores; throws the refusal (429, 503) for the caller to answer. */
  const accept = async (source: Source, events: FerryEvent[]): Promise<void> => {
    limiter.take(source.id, source.raw.rateLimit, events.length);
    const destinationIds = source.destinations.filter((d) => d.enabled).map((d) => d.id);
    try {
      await sink.append(source.id, events.map((event) => ({ event, destinationIds })));
      metrics.eventsAccepted.inc({ source: source.id }, events.length);
    } catch (err) {
      limiter.refund(source.id, source.raw.rateLimit, events.length);
      if (err instanceof LogWriteError) {
        throw new GatewayError(GatewayErrorType.storeUnavailable, 'Event store unavailable, retry later', { cause: err, retryAfterSeconds: 1 });
      }
      throw err;
    }
  };
  const ok = (res: Response) => res.type('text/plain').send('OK');

  for (const [path, type] of SINGLE_EVENT_PATHS) {
    app.post(path, basicAuth, json, async (req, res) => {
      await accept(req.source!, parseSingle(req.body, type, facts(req)));
      ok(res);
    });
  }

  // /v1/import is RudderStack's endpoint for historical loads: a batch whose events carry their own timestamps.
  for (const path of BATCH_PATHS) {
    app.post(path, basicAuth, json, async (req, res) => {
      await accept(req.source!, parseBatch(req.body, facts(req)));
      ok(res);
    });
  }

  // navigator.sendBeacon cannot set headers, so the write key comes in the query.
  app.post(BEACON_PATH, basicOrQueryAuth, json, async (req, res) => {
    await accept(req.source!, parseBatch(req.body, facts(req)));
    ok(res);
  });

  for (const [path, type] of PIXEL_PATHS) {
    app.get(path, async (req, res) => {
      // An image tag cannot act on an error, so every answer is the GIF. Bad input and bad keys still
      // answer 200 (as RudderStack's pixel does) but keep nothing; 429 and 503 keep their status, so
      // that nothing reads as stored when it was not.
      let status = 200;
      try {
        const source = sourceFor(workspace, req, { allowQuery: true });
        await accept(source, parseSingle(eventFromQuery(queryOf(req)), type, facts(req)));
      } catch (err) {
        status = pixelStatus(err, res, logger, req);
      }
      res.status(status).setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
      res.type('image/gif').send(TRANSPARENT_GIF);
    });
  }

  app.use((_req, _res, next) => next(new GatewayError(GatewayErrorType.notFound, 'Not found')));
  app.use(errorHandler(logger));
  return app;
}

/** Refusals an image tag's page may still act on (retry later); every other refusal answers 200. */
const PIXEL_KEPT_REFUSALS: ReadonlySet<GatewayErrorType> = new Set([GatewayErrorType.rateLimited, GatewayErrorType.storeUnavailable]);

function pixelStatus(err: unknown, res: Response, logger: Logger, req: Request): number {
  const refusal = refusalOf(err);
  if (refusal && !PIXEL_KEPT_REFUSALS.has(refusal.type)) return 200;
  return refusalStatus(err, res, logger, req.path);
}

function facts(req: Request): RequestFacts {
  return { receivedAt: new Date(), requestIp: req.ip };
}
