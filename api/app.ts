import express, { type Request } from 'express';
import type { Logger } from 'pino';
import type { Workspace } from '../config/workspace';
import type { EventType, FerryEvent, RoutedEvent } from '../events/event';
import { authenticate } from './auth';
import type { RequestFacts } from './enrich';
import { errorHandler, GatewayError, GatewayErrorType } from './errors';
import type { HealthCheck } from './health';
import { parseBatch, parseSingle } from './validate';

/** Accepts routed events durably; resolves only once they are stored. */
export interface EventSink {
  dispatch(sourceId: string, routed: readonly RoutedEvent[]): Promise<void>;
}

export interface GatewayOptions {
  readonly workspace: Workspace;
  readonly sink: EventSink;
  readonly health: HealthCheck;
  readonly logger: Logger;
  /** Largest accepted body after decompression. @default 4000 KB */
  readonly maxRequestBytes?: number;
}

const SINGLE_EVENT_PATHS: ReadonlyArray<readonly [string, EventType]> = [
  ['/v1/track', 'track'],
  ['/v1/identify', 'identify'],
  ['/v1/page', 'page'],
  ['/v1/screen', 'screen'],
  ['/v1/group', 'group'],
  ['/v1/alias', 'alias'],
];

export function createApp({ workspace, sink, health, logger, maxRequestBytes = 4_000 * 1024 }: GatewayOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', true);

  app.get('/health', async (_req, res) => {
    const report = await health();
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  });

  // Every SDK sends JSON, but not always with a JSON content type (sendBeacon sends text/plain).
  const json = express.json({ limit: maxRequestBytes, type: () => true, strict: false, inflate: true });
  const auth = authenticate(workspace);

  const accept = async (req: Request, events: FerryEvent[]): Promise<void> => {
    const source = req.source!;
    const destinationIds = source.destinations.filter((d) => d.enabled).map((d) => d.id);
    await sink.dispatch(source.id, events.map((event) => ({ event, destinationIds })));
  };

  for (const [path, type] of SINGLE_EVENT_PATHS) {
    app.post(path, auth, json, async (req, res) => {
      await accept(req, parseSingle(req.body, type, facts(req)));
      res.type('text/plain').send('OK');
    });
  }

  app.post('/v1/batch', auth, json, async (req, res) => {
    await accept(req, parseBatch(req.body, facts(req)));
    res.type('text/plain').send('OK');
  });

  app.use((_req, _res, next) => next(new GatewayError(GatewayErrorType.notFound, 'Not found')));
  app.use(errorHandler(logger));
  return app;
}

function facts(req: Request): RequestFacts {
  return { receivedAt: new Date(), requestIp: req.ip };
}
