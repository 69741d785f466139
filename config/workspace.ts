/**
 * The workspace: sources and their destinations, in RudderStack's backend-config shape, loaded from
 * FERRY_WORKSPACE_CONFIG. Everything is validated here, destination configs included, so that a bad
 * config stops startup instead of failing deliveries later.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { destinationDefinition } from '../activities/destinations/registry';
import { retryPolicySchema, type RetryPolicy } from '../activities/deliver/retryPolicy';
import { isTransformationCodePath, TransformationLoader, transformationConfigSchema } from '../activities/transform/userTransformation/config';
import type { UserTransformation } from '../activities/transform/userTransformation/types';
import { ConfigError, describeIssues, formatPath } from './errors';
import { PROJECT_ROOT } from './paths';

const destinationSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().optional(),
  enabled: z.boolean(),
  config: z.record(z.string(), z.unknown()),
  destinationDefinition: z.looseObject({ name: z.string().min(1) }),
  retry: retryPolicySchema.optional(),
  /** RudderStack's user transformation of this connection; at most one. */
  transformations: z.array(transformationConfigSchema).optional(),
});

const sourceSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().optional(),
  writeKey: z.string().min(1),
  enabled: z.boolean(),
  destinations: z.array(destinationSchema),
  /** Per-source ingest limit, enforced by the gateway as a token bucket; unlimited when absent. */
  rateLimit: z
    .object({
      eventsPerSecond: z.number().positive(),
      /** Events that may arrive at once after a quiet spell. @default eventsPerSecond (at least 1) */
      burst: z.number().int().positive().optional(),
    })
    .optional(),
});

export const workspaceSchema = z.looseObject({
  workspaceId: z.string().optional(),
  sources: z.array(sourceSchema),
});

export type WorkspaceConfig = z.infer<typeof workspaceSchema>;
type SourceConfig = z.infer<typeof sourceSchema>;

export interface Destination {
  readonly id: string;
  readonly name: string;
  readonly enabled: boolean;
  readonly definitionName: string;
  /** The config parsed by the destination's own schema. */
  readonly config: unknown;
  readonly retry: RetryPolicy;
  /** Runs on each event before the destination's transform; its code is compiled at load. */
  readonly transformation?: UserTransformation;
}

export interface Source {
  readonly id: string;
  readonly name: string;
  readonly writeKey: string;
  readonly enabled: boolean;
  readonly destinations: readonly Destination[];
  readonly raw: SourceConfig;
}

export class Workspace {
  private readonly byWriteKey = new Map<string, Source>();
  private readonly byId = new Map<string, Source>();

  constructor(
    readonly sources: readonly Source[],
    /** The document's `workspaceId`, which the browser SDK's source config reports. */
    readonly workspaceId?: string,
  ) {
    for (const source of sources) {
      this.byWriteKey.set(source.writeKey, source);
      this.byId.set(source.id, source);
    }
  }

  sourceByWriteKey(writeKey: string): Source | undefined {
    return this.byWriteKey.get(writeKey);
  }

  source(sourceId: string): Source | undefined {
    return this.byId.get(sourceId);
  }

  destination(sourceId: string, destinationId: string): Destination | undefined {
    return this.byId.get(sourceId)?.destinations.find((d) => d.id === destinationId);
  }
}

/**
 * Validates a parsed workspace document; `origin` names the file in errors. `baseDir` is where
 * transformations' `codeFile` paths start (loadWorkspace passes the file's folder).
 */
export function parseWorkspace(document: unknown, origin: string, { baseDir = process.cwd() }: { baseDir?: string } = {}): Workspace {
  const parsed = workspaceSchema.safeParse(document);
  if (!parsed.success) {
    throw new ConfigError(`invalid workspace config ${origin}:\n${describeIssues(parsed.error.issues)}`, origin);
  }
  const problems: string[] = [];
  const seenKeys = new Set<string>();
  const seenSources = new Set<string>();
  const transformations = new TransformationLoader(baseDir);
  const sources = parsed.data.sources.map((source, s): Source => {
    if (seenKeys.has(source.writeKey)) problems.push(`sources[${s}].writeKey: duplicate write key`);
    if (seenSources.has(source.id)) problems.push(`sources[${s}].id: duplicate source id "${source.id}"`);
    seenKeys.add(source.writeKey);
    seenSources.add(source.id);
    const seenDestinations = new Set<string>();
    const destinations = source.destinations.map((dest, d): Destination => {
      const at = `sources[${s}].destinations[${d}]`;
      if (seenDestinations.has(dest.id)) problems.push(`${at}.id: duplicate destination id "${dest.id}"`);
      seenDestinations.add(dest.id);
      const definition = destinationDefinition(dest.destinationDefinition.name);
      let config: unknown = dest.config;
      if (!definition) {
        problems.push(`${at}.destinationDefinition.name: unknown destination "${dest.destinationDefinition.name}"`);
      } else {
        const result = definition.configSchema.safeParse(dest.config);
        if (result.success) config = result.data;
        else for (const issue of result.error.issues) problems.push(`${at}.config${issue.path.length ? '.' : ''}${formatPath(issue.path)}: ${issue.message}`);
      }
      const loaded = transformations.load(dest.transformations, at);
      problems.push(...loaded.problems);
      return {
        id: dest.id,
        name: dest.name ?? dest.id,
        enabled: dest.enabled,
        definitionName: dest.destinationDefinition.name,
        config,
        retry: dest.retry ?? retryPolicySchema.parse({}),
        transformation: loaded.transformation,
      };
    });
    return { id: source.id, name: source.name ?? source.id, writeKey: source.writeKey, enabled: source.enabled, destinations, raw: source };
  });
  if (problems.length > 0) throw new ConfigError(`invalid workspace config ${origin}:\n${problems.join('\n')}`, origin);
  return new Workspace(sources, parsed.data.workspaceId);
}

/** The demo workspace `npm start` uses when FERRY_WORKSPACE_CONFIG is unset. */
export const DEMO_WORKSPACE_PATH = path.join(PROJECT_ROOT, 'config', 'demo-workspace.json');

/**
 * Loads and validates a workspace file. String values may reference environment variables as
 * `${NAME}` or `${NAME:-default}`, so secrets and ports need not be written into the file.
 */
export function loadWorkspace(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Workspace {
  const target = file ?? DEMO_WORKSPACE_PATH;
  let text: string;
  try {
    text = fs.readFileSync(target, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read workspace config ${target}: ${(err as Error).message}`, target, { cause: err });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`workspace config ${target} is not valid JSON: ${(err as Error).message}`, target, { cause: err });
  }
  return parseWorkspace(substituteEnv(document, env, target, []), target, { baseDir: path.dirname(target) });
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, origin: string, at: PropertyKey[]): unknown {
  if (isTransformationCodePath(at)) return value;
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`workspace config ${origin}: ${formatPath(at)} references unset environment variable ${name}`, origin);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, origin, [...at, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, origin, [...at, k])]));
  }
  return value;
}
