/**
 * The admin API, mounted at /admin when the gateway has an admin token (FERRY_ADMIN_TOKEN): what the
 * `ferry` CLI does, over HTTP, for operators and their tools. Every request carries
 * `Authorization: Bearer <token>`; every answer is JSON, errors as `{ "error": "…" }`.
 *
 *   GET  /admin/status                           the FerryStatus (`ferry status --json`)
 *   POST /admin/degrade            { reason? }   enter degraded mode: store events, forward none
 *   POST /admin/recover                          back to normal mode
 *   POST /admin/destinations/:id/pause  { reason? }
 *   POST /admin/destinations/:id/resume
 *   GET  /admin/destinations/:id/stuck?limit=N   users whose delivery there is retrying or paused
 *
 * Each POST above answers 200 with the resulting FerryStatus. With replays configured:
 *
 *   POST /admin/replays   { sourceId, destinationId?, userKey?, from, to, dryRun?, eventsPerSecond?, maxLiveBacklog? }
 *   POST /admin/redrives  { destinationId, sourceId?, since?, dryRun?, eventsPerSecond?, maxLiveBacklog? }
 *                         both answer 202 with the job's status; `workflowId` names it
 *   GET  /admin/jobs/:kind/:id            a replay's or re-drive's JobStatus (kind: replay or redrive)
 *   POST /admin/jobs/:kind/:id/cancel     cancel it
 *   POST /admin/reprocess { workflowId, toEventId? }   reset a user workflow so its events are processed again
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import { describeIssues } from '../config/errors';
import type { ReplayOps } from '../ops/replayClient';
import type { SupervisorOps } from '../ops/supervisorClient';
import { REPLAY_KINDS, replayWorkflowId } from '../workflows/replayDefinitions';
import { queryOf } from './auth';
import { GatewayError, GatewayErrorType, jsonErrors } from './errors';

export interface AdminOptions {
  readonly ops: SupervisorOps;
  /** Replays, re-drives and resets. @default none: those routes are 404 */
  readonly replays?: ReplayOps;
  /** The bearer token every request must carry. */
  readonly token: string;
}

/** The `WWW-Authenticate` challenge of the admin API's 401s. */
export const ADMIN_CHALLENGE = 'Bearer realm="ferry-admin"';

const reason = z.string().trim().min(1, 'must not be empty').max(1_000);

/** Body of POST /admin/degrade. */
export const degradeBodySchema = z.strictObject({ reason: reason.optional() });
export type DegradeBody = z.infer<typeof degradeBodySchema>;

/** Body of POST /admin/destinations/:id/pause. */
export const pauseBodySchema = z.strictObject({ reason: reason.optional() });
export type PauseBody = z.infer<typeof pauseBodySchema>;

/** Body of POST /admin/recover and /admin/destinations/:id/resume: nothing, or `{}`. */
export const emptyBodySchema = z.strictObject({});
export type EmptyBody = z.infer<typeof emptyBodySchema>;

/** Query of GET /admin/destinations/:id/stuck. */
export const stuckQuerySchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(1_000).optional() });
export type StuckQuery = z.infer<typeof stuckQuerySchema>;

const time = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
const pacing = {
  eventsPerSecond: z.number().positive().max(100_000).optional(),
  maxLiveBacklog: z.number().int().min(0).optional(),
  dryRun: z.boolean().optional(),
};

/** Body of POST /admin/replays. */
export const replayBodySchema = z.strictObject({
  sourceId: z.string().min(1),
  destinationId: z.string().min(1).optional(),
  userKey: z.string().min(1).optional(),
  from: time,
  to: time,
  ...pacing,
});
export type ReplayBody = z.infer<typeof replayBodySchema>;

/** Body of POST /admin/redrives. */
export const redriveBodySchema = z.strictObject({
  destinationId: z.string().min(1),
  sourceId: z.string().min(1).optional(),
  since: time.optional(),
  ...pacing,
});
export type RedriveBody = z.infer<typeof redriveBodySchema>;

/** Body of POST /admin/reprocess. */
export const reprocessBodySchema = z.strictObject({ workflowId: z.string().min(1), toEventId: z.number().int().positive().optional() });
export type ReprocessBody = z.infer<typeof reprocessBodySchema>;

/** Query of every other route: none. */
const noQuerySchema = z.strictObject({});

export function adminRouter({ ops, token, replays }: AdminOptions): Router {
  if (token.length === 0) throw new Error('adminRouter: the admin token must not be empty');
  const router = express.Router();
  // Errors below are JSON; the token is checked before any body is read.
  router.use(jsonErrors(), bearerAuth(token));
  const json = express.json({ limit: '16kb', type: () => true, strict: true });

  router.get('/status', async (req, res) => {
    check(noQuerySchema, queryObject(req), 'query');
    res.json(await ops.status());
  });

  router.post('/degrade', json, async (req, res) => {
    const body = check(degradeBodySchema, req.body ?? {}, 'body');
    res.json(await ops.degrade(body.reason));
  });

  router.post('/recover', json, async (req, res) => {
    check(emptyBodySchema, req.body ?? {}, 'body');
    res.json(await ops.recover());
  });

  router.post('/destinations/:id/pause', json, async (req, res) => {
    const body = check(pauseBodySchema, req.body ?? {}, 'body');
    res.json(await ops.pause([req.params.id], body.reason));
  });

  router.post('/destinations/:id/resume', json, async (req, res) => {
    check(emptyBodySchema, req.body ?? {}, 'body');
    res.json(await ops.resume([req.params.id]));
  });

  router.get('/destinations/:id/stuck', async (req, res) => {
    const { limit } = check(stuckQuerySchema, queryObject(req), 'query');
    const destinationId = req.params.id;
    res.json({ destinationId, users: await ops.stuck(destinationId, limit === undefined ? {} : { limit }) });
  });

  if (replays) addReplayRoutes(router, replays, json);
  return router;
}

function pacingOf(body: { eventsPerSecond?: number; maxLiveBacklog?: number }) {
  return {
    ...(body.eventsPerSecond !== undefined ? { eventsPerSecond: body.eventsPerSecond } : {}),
    ...(body.maxLiveBacklog !== undefined ? { maxLiveBacklog: body.maxLiveBacklog } : {}),
  };
}

function addReplayRoutes(router: Router, replays: ReplayOps, json: RequestHandler): void {
  router.post('/replays', json, async (req, res) => {
    const body = check(replayBodySchema, req.body ?? {}, 'body');
    const { sourceId, destinationId, userKey, from, to, dryRun } = body;
    res.status(202).json(
      await replays.replay({ sourceId, from, to, pacing: pacingOf(body), ...(destinationId ? { destinationId } : {}), ...(userKey ? { userKey } : {}), ...(dryRun ? { dryRun } : {}) }),
    );
  });

  router.post('/redrives', json, async (req, res) => {
    const body = check(redriveBodySchema, req.body ?? {}, 'body');
    const { destinationId, sourceId, since, dryRun } = body;
    res.status(202).json(await replays.redrive({ destinationId, pacing: pacingOf(body), ...(sourceId ? { sourceId } : {}), ...(since ? { since } : {}), ...(dryRun ? { dryRun } : {}) }));
  });

  const jobId = (req: Request) => {
    const kind = REPLAY_KINDS.find((k) => k === req.params.kind);
    if (!kind) throw new GatewayError(GatewayErrorType.notFound, `no job kind "${String(req.params.kind)}": use replay or redrive`);
    return replayWorkflowId(kind, String(req.params.id));
  };

  router.get('/jobs/:kind/:id', async (req, res) => {
    check(noQuerySchema, queryObject(req), 'query');
    res.json(await replays.job(jobId(req)));
  });

  router.post('/jobs/:kind/:id/cancel', json, async (req, res) => {
    check(emptyBodySchema, req.body ?? {}, 'body');
    res.json(await replays.cancel(jobId(req)));
  });

  router.post('/reprocess', json, async (req, res) => {
    const body = check(reprocessBodySchema, req.body ?? {}, 'body');
    res.json(await replays.reprocess(body.workflowId, body.toEventId));
  });
}

/**
 * Refuses (401, with the Bearer challenge) a request without the token. Both sides are hashed first,
 * so the comparison takes the same time whatever the given token's length and content.
 */
function bearerAuth(token: string): RequestHandler {
  const expected = sha256(token);
  return (req, _res, next) => {
    const given = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')?.[1];
    // Hash and compare even without a token, so that its absence takes no less time.
    const matches = timingSafeEqual(sha256(given ?? ''), expected) && given !== undefined;
    if (matches) next();
    else next(new GatewayError(GatewayErrorType.unauthorized, given === undefined ? 'Missing admin token: send Authorization: Bearer <token>' : 'Invalid admin token', { challenge: ADMIN_CHALLENGE }));
  };
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The query string as a plain object (a repeated key keeps its last value). */
function queryObject(req: Request): Record<string, string> {
  return Object.fromEntries(queryOf(req));
}

function check<S extends z.ZodType>(schema: S, value: unknown, what: 'body' | 'query'): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new GatewayError(GatewayErrorType.invalidRequest, `Invalid request ${what}: ${describeIssues(parsed.error.issues).replace(/\n/g, '; ')}`);
}
