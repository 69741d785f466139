import { FerryError } from '../errors/ferryError';

/**
 * A transformation's code cannot be used: it does not compile, imports modules, exports neither
 * transformEvent nor transformBatch, or its top-level code throws or runs too long. Raised when the
 * workspace loads, so bad code stops startup instead of aborting events later.
 */
export class TransformationCodeError extends FerryError {
  constructor(
    message: string,
    readonly versionId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const SANDBOX_ERROR_KINDS = {
  timeout: 'timeout',
  memory: 'memory',
  /** The module could not be started in a fresh isolate, e.g. its top-level code failed this time. */
  start: 'start',
  /** The isolate's answer did not have the shape the bootstrap produces, e.g. the code broke intrinsics. */
  output: 'output',
} as const;
export type SandboxErrorKind = (typeof SANDBOX_ERROR_KINDS)[keyof typeof SANDBOX_ERROR_KINDS];

/**
 * One call into a sandbox failed because of the transformation, not because of Ferry: the events of
 * that call are aborted with this message, and the isolate is discarded.
 */
export class SandboxError extends FerryError {
  constructor(
    message: string,
    readonly kind: SandboxErrorKind,
    readonly versionId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How isolated-vm reports a run stopped by its `timeout` option. */
const TIMEOUT_MESSAGE = 'Script execution timed out.';

/**
 * Names a failure of code running in an isolate, or undefined when it is neither a timeout nor the
 * isolate's death (then it is the code's own exception, or Ferry's fault).
 */
export function isolateFailureKind(err: unknown, isolateDisposed: boolean): 'timeout' | 'memory' | undefined {
  if (errorMessage(err) === TIMEOUT_MESSAGE) return 'timeout';
  // isolated-vm disposes an isolate that reaches its memory limit, and only then on its own.
  if (isolateDisposed) return 'memory';
  return undefined;
}

/**
 * The message of an error isolated-vm raised. Not `instanceof Error`: its errors belong to the realm
 * that loaded the addon, which is not the caller's under jest or node:vm.
 */
export function errorMessage(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return undefined;
}

/** `Name: message` of an error from isolated-vm, for config errors. */
export function describeError(err: unknown): string {
  const message = errorMessage(err);
  if (message === undefined) return String(err);
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' && name !== '' ? `${name}: ${message}` : message;
}
