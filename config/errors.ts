import { FerryError } from '../errors/ferryError';

/** A setting (environment variable or config file) is missing or invalid; thrown at startup, never later. */
export class ConfigError extends FerryError {
  constructor(
    message: string,
    /** Where the bad value came from: an environment variable name or a file path with a JSON path. */
    readonly where: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Formats zod-style issues as `path: message` lines, the path in `a.b[0].c` notation. */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`).join('\n');
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
