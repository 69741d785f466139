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
 * Each POST answers 200 with the resulting FerryStatus.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import { describeIssues } from '../config/errors';
import type { SupervisorOps } from '../ops/supervisorClient';
import { queryOf } from './auth';
import { GatewayError, GatewayErrorType, jsonErrors } from './errors';

export interface AdminOptions {
  readonly ops: SupervisorOps;
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

/** Query of every other route: none. */
const noQuerySchema = z.strictObject({});

export function adminRouter({ ops, token }: AdminOptions): Router {
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

  return router;
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
