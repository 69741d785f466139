import fs from 'node:fs';
import path from 'node:path';

/**
 * The checkout's root, found by walking up to package.json, so that files shipped beside the code
 * (SQL migrations, the demo workspace) resolve the same from `dist/` and from the TypeScript sources.
 */
export const PROJECT_ROOT = findRoot(__dirname);

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
