/**
 * A destination's `transformations` in the workspace config, in RudderStack's backend-config shape
 * (`{ versionId, id, name, config: { code } }`), plus `codeFile` so code can live in a .js file next
 * to the workspace. Checking the shape needs no sandbox; compiling the code is the loader's job.
 */
import { z } from 'zod';
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

/**
 * Turns a destination's `transformations` into the transformation it runs. `at` is the destination's
 * JSON path (e.g. `sources[0].destinations[1]`); problems are `path: message` lines.
 */
export interface TransformationCompiler {
  load(configs: readonly TransformationConfig[] | undefined, at: string): { transformation?: UserTransformation; problems: string[] };
}
