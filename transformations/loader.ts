/**
 * Compiles a workspace's user transformations as it loads, so that code which cannot run stops the
 * worker from starting. Each version is compiled and started once, in a throwaway isolate. Only the
 * worker loads this (it pulls in isolated-vm); the gateway routes without it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkTransformationCode } from './compile';
import { TransformationCodeError } from './errors';
import type { TransformationCompiler, TransformationConfig } from './schema';
import type { UserTransformation } from './types';

/** Loads the transformations of one workspace, remembering versions so each is checked once. */
export class TransformationLoader implements TransformationCompiler {
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
