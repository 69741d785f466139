/**
 * The workspace: sources and their destinations, in RudderStack's backend-config shape, loaded from
 * FERRY_WORKSPACE_CONFIG. Everything is validated here, destination configs included, so that a bad
 * config stops startup instead of failing deliveries later.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_RETRY_POLICY, retryPolicySchema, type RetryPolicy } from '../delivery/retryPolicy';
import type { DestinationDefinition } from '../destinations/definition';
import { destinationDefinition } from '../destinations/registry';
import { isTransformationCodePath, transformationConfigSchema, type TransformationCompiler, type TransformationConfig } from '../transformations/schema';
import type { UserTransformation } from '../transformations/types';
import { ConfigError, describeIssues, formatPath } from './errors';
import { PROJECT_ROOT } from './paths';

const destinationSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().optional(),
  enabled: z.boolean(),
  config: z.record(z.string(), z.unknown()),
  destinationDefinition: z.looseObject({ name: z.string().min(1) }),
  retry: retryPolicySchema.optional(),
  /** Overrides the supervisor's circuit-breaker defaults (FERRY_BREAKER_*) for this destination. */
  breaker: z
    .strictObject({
      failureRate: z.number().gt(0).max(1).optional(),
      minAttempts: z.number().int().positive().optional(),
      windowMs: z.number().int().min(5_000).optional(),
      probeAfterMs: z.number().int().positive().optional(),
    })
    .optional(),
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
export type BreakerOverrides = NonNullable<z.infer<typeof destinationSchema>['breaker']>;
type SourceConfig = z.infer<typeof sourceSchema>;

export interface Destination {
  readonly id: string;
  readonly name: string;
  readonly enabled: boolean;
  /** The destination kind (`destinationDefinition.name`), resolved once at load. */
  readonly definition: DestinationDefinition<unknown>;
  /** The config as the definition's own schema parsed it. */
  readonly config: unknown;
  readonly retry: RetryPolicy;
  /** This destination's circuit-breaker overrides; the supervisor's defaults apply to the rest. */
  readonly breaker?: BreakerOverrides;
  /** The `transformations` entries as configured; compiled into `transformation` only where a compiler was given. */
  readonly transformations: readonly TransformationConfig[];
  /** Runs on each event before the destination's transform; set when the workspace was loaded with a compiler. */
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
  /** By the hex SHA-256 digest of the write key; see sourceByWriteKey. */
  private readonly byWriteKey = new Map<string, { readonly source: Source; readonly digest: Buffer }>();
  private readonly byId = new Map<string, Source>();

  constructor(
    readonly sources: readonly Source[],
    /** The document's `workspaceId`, which the browser SDK's source config reports. */
    readonly workspaceId?: string,
  ) {
    for (const source of sources) {
      const digest = writeKeyDigest(source.writeKey);
      this.byWriteKey.set(digest.toString('hex'), { source, digest });
      this.byId.set(source.id, source);
    }
  }

  /**
   * The source a presented write key belongs to, in time that tells an attacker nothing about the
   * real keys. A Map keyed by the key itself would compare strings byte by byte and stop at the first
   * difference, so response times would reveal how long a prefix of a real key a guess shares. The
   * map is keyed by the key's SHA-256 digest instead: the lookup's timing can only tell about the
   * digest of the attacker's own guess, which reveals nothing about any key (finding a key from its
   * digest is a preimage attack). The found key is then confirmed with timingSafeEqual over two
   * 32-byte digests, which takes the same time whatever the keys' contents and lengths.
   */
  sourceByWriteKey(writeKey: string): Source | undefined {
    const presented = writeKeyDigest(writeKey);
    const found = this.byWriteKey.get(presented.toString('hex'));
    if (!found || !timingSafeEqual(presented, found.digest)) return undefined;
    return found.source;
  }

  source(sourceId: string): Source | undefined {
    return this.byId.get(sourceId);
  }

  destination(sourceId: string, destinationId: string): Destination | undefined {
    return this.byId.get(sourceId)?.destinations.find((d) => d.id === destinationId);
  }

  /** Every destination id of every source, once each: what operators may pause. */
  /** Each source's destination ids. */
  destinationsBySource(): Map<string, string[]> {
    return new Map(this.sources.map((s) => [s.id, s.destinations.map((d) => d.id)]));
  }

  destinationIds(): string[] {
    return [...new Set(this.sources.flatMap((s) => s.destinations.map((d) => d.id)))].sort();
  }

  /** The destinations' circuit-breaker overrides, by id. */
  breakerOverrides(): Record<string, BreakerOverrides> {
    const overrides: Record<string, BreakerOverrides> = {};
    for (const source of this.sources) for (const d of source.destinations) if (d.breaker) overrides[d.id] = { ...overrides[d.id], ...d.breaker };
    return overrides;
  }
}

/** A write key's SHA-256: fixed-length, so that comparing two of them cannot leak a key's length. */
function writeKeyDigest(writeKey: string): Buffer {
  return createHash('sha256').update(writeKey, 'utf8').digest();
}

export interface WorkspaceOptions {
  /** Where transformations' `codeFile` paths start. @default the workspace file's folder, else the working directory */
  readonly baseDir?: string;
  /**
   * Compiles user transformations at load (the worker passes the isolated-vm loader from
   * transformations/). Without one, transformations are only checked for shape: the gateway routes
   * events and never runs them. @default none
   */
  readonly compiler?: (baseDir: string) => TransformationCompiler;
}

/** Validates a parsed workspace document; `origin` names the file in errors. */
export function parseWorkspace(document: unknown, origin: string, { baseDir = process.cwd(), compiler }: WorkspaceOptions = {}): Workspace {
  const parsed = workspaceSchema.safeParse(document);
  if (!parsed.success) {
    throw new ConfigError(`invalid workspace config ${origin}:\n${describeIssues(parsed.error.issues)}`, origin);
  }
  const problems: string[] = [];
  const seenKeys = new Set<string>();
  const seenSources = new Set<string>();
  const transformations = compiler?.(baseDir);
  const sources = parsed.data.sources.map((source, s): Source => {
    if (seenKeys.has(source.writeKey)) problems.push(`sources[${s}].writeKey: duplicate write key`);
    if (seenSources.has(source.id)) problems.push(`sources[${s}].id: duplicate source id "${source.id}"`);
    seenKeys.add(source.writeKey);
    seenSources.add(source.id);
    const seenDestinations = new Set<string>();
    // A destination of an unknown kind is reported and left out; any problem stops the load below.
    const destinations = source.destinations.flatMap((dest, d): Destination[] => {
      const at = `sources[${s}].destinations[${d}]`;
      if (seenDestinations.has(dest.id)) problems.push(`${at}.id: duplicate destination id "${dest.id}"`);
      seenDestinations.add(dest.id);
      const loaded = transformations?.load(dest.transformations, at) ?? { problems: [] };
      const definition = destinationDefinition(dest.destinationDefinition.name);
      if (!definition) {
        problems.push(`${at}.destinationDefinition.name: unknown destination "${dest.destinationDefinition.name}"`, ...loaded.problems);
        return [];
      }
      const config = definition.configSchema.safeParse(dest.config);
      if (!config.success) {
        for (const issue of config.error.issues) problems.push(`${at}.config${issue.path.length ? '.' : ''}${formatPath(issue.path)}: ${issue.message}`);
      }
      problems.push(...loaded.problems);
      return [
        {
          id: dest.id,
          name: dest.name ?? dest.id,
          enabled: dest.enabled,
          definition,
          config: config.success ? config.data : dest.config,
          retry: dest.retry ?? DEFAULT_RETRY_POLICY,
          ...(dest.breaker ? { breaker: dest.breaker } : {}),
          transformations: dest.transformations ?? [],
          transformation: loaded.transformation,
        },
      ];
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
export function loadWorkspace(file: string | undefined, env: NodeJS.ProcessEnv = process.env, options: Omit<WorkspaceOptions, 'baseDir'> = {}): Workspace {
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
  return parseWorkspace(substituteEnv(document, env, target, []), target, { ...options, baseDir: path.dirname(target) });
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
