/**
 * A destination's `transformations` in the workspace config, in RudderStack's backend-config shape
 * (`{ versionId, id, name, config: { code } }`), plus `codeFile` so code can live in a .js file next
 * to the workspace. Each transformation is compiled and started once here, so that code which cannot
 * run stops the workspace from loading.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { checkTransformationCode } from './compile';
import { TransformationCodeError } from './errors';
import type { UserTransformation } from './types';

export const transformationConfigSchema = z.looseObject({
  versionId: z.string().min(1),
  id: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  config: z
    .looseObject({
      /** The module's source. */
      code: z.string().optional(),
      /** A .js file holding the source, relative to the workspace file. */
      codeFile: z.string().min(1).optional(),
    })
    .refine((c) => (c.code === undefined) !== (c.codeFile === undefined), 'give exactly one of code and codeFile'),
});

export type TransformationConfig = z.infer<typeof transformationConfigSchema>;

/** True for the JSON path of inline code, which `${NAME}` substitution must leave alone: JS uses `${}` too. */
export function isTransformationCodePath(at: readonly PropertyKey[]): boolean {
  const n = at.length;
  return n >= 4 && at[n - 4] === 'transformations' && typeof at[n - 3] === 'number' && at[n - 2] === 'config' && at[n - 1] === 'code';
}

/** Loads the transformations of one workspace, remembering versions so each is checked once. */
export class TransformationLoader {
  private readonly versions = new Map<string, { code: string; at: string; transformation?: UserTransformation }>();

  /** @param baseDir where `codeFile` paths start: the workspace file's folder. */
  constructor(private readonly baseDir: string) {}

  /**
   * The destination's transformation, if any. Problems are `path: message` lines, `at` being the
   * destination's path, e.g. `sources[0].destinations[1]`.
   */
  load(configs: readonly TransformationConfig[] | undefined, at: string): { transformation?: UserTransformation; problems: string[] } {
    if (!configs || configs.length === 0) return { problems: [] };
    // RudderStack connects one transformation to a destination; running several in sequence would
    // be Ferry's invention.
    if (configs.length > 1) return { problems: [`${at}.transformations: a destination takes one transformation, got ${configs.length}`] };
    const config = configs[0]!;
    const here = `${at}.transformations[0]`;
    let code: string;
    if (config.config.code !== undefined) {
      code = config.config.code;
    } else {
      const file = path.resolve(this.baseDir, config.config.codeFile!);
      try {
        code = fs.readFileSync(file, 'utf8');
      } catch (err) {
        return { problems: [`${here}.config.codeFile: cannot read ${file}: ${(err as Error).message}`] };
      }
    }
    const seen = this.versions.get(config.versionId);
    if (seen && seen.code !== code) {
      return { problems: [`${here}.versionId: version "${config.versionId}" has different code at ${seen.at}; a new version needs a new versionId`] };
    }
    if (seen) {
      return seen.transformation ? { transformation: { ...seen.transformation, id: config.id, name: config.name ?? config.versionId }, problems: [] } : { problems: [] };
    }
    const entry: { code: string; at: string; transformation?: UserTransformation } = { code, at: here };
    this.versions.set(config.versionId, entry);
    try {
      const mode = checkTransformationCode(code, config.versionId);
      entry.transformation = { versionId: config.versionId, id: config.id, name: config.name ?? config.versionId, code, mode };
      return { transformation: entry.transformation, problems: [] };
    } catch (err) {
      if (err instanceof TransformationCodeError) return { problems: [`${here}: ${err.message}`] };
      throw err;
    }
  }
}
