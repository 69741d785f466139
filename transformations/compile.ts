/**
 * The load-time check of a transformation's code: it is compiled and started once, in a throwaway
 * isolate, so that code which cannot run stops the workspace from loading. Synchronous because
 * workspace loading is; the top-level code still runs under the sandbox's limits.
 */
import ivm from 'isolated-vm';
import { BOOTSTRAP_SOURCE, isMode, moduleFilename } from './bootstrap';
import { describeError, errorMessage, isolateFailureKind, TransformationCodeError } from './errors';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './limits';
import type { TransformationMode } from './types';

/**
 * Compiles and starts `code` as an ES module and returns which function it exports. Throws
 * TransformationCodeError when it does not compile, imports anything, throws or runs too long at the
 * top level, or exports neither transformEvent nor transformBatch.
 */
export function checkTransformationCode(code: string, versionId: string, limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS): TransformationMode {
  const isolate = new ivm.Isolate({ memoryLimit: limits.memoryMb });
  try {
    const context = isolate.createContextSync();
    const bootstrap = context.evalClosureSync(BOOTSTRAP_SOURCE, [], { result: { reference: true } });
    let module: ivm.Module;
    try {
      module = isolate.compileModuleSync(code, { filename: moduleFilename(versionId) });
    } catch (err) {
      throw new TransformationCodeError(`the code does not compile: ${describeError(err)}`, versionId, { cause: err });
    }
    rejectImports(module.dependencySpecifiers, versionId);
    module.instantiateSync(context, refuseImport);
    try {
      module.evaluateSync({ timeout: limits.timeoutMs });
    } catch (err) {
      throw new TransformationCodeError(describeStartFailure('its top-level code', err, isolate.isDisposed, limits), versionId, { cause: err });
    }
    const setup = bootstrap.getSync('setup', { reference: true });
    let mode: unknown;
    try {
      mode = setup.applySync(undefined, [module.namespace.derefInto()], { timeout: limits.timeoutMs });
    } catch (err) {
      throw new TransformationCodeError(describeSetupFailure(err, isolate.isDisposed, limits), versionId, { cause: err });
    }
    if (!isMode(mode)) throw new TransformationCodeError(`unexpected answer from the sandbox: ${String(mode)}`, versionId);
    return mode;
  } finally {
    if (!isolate.isDisposed) isolate.dispose();
  }
}

/** Transformations are one self-contained module: RudderStack's libraries are not supported. */
export function rejectImports(specifiers: readonly string[], versionId: string): void {
  if (specifiers.length === 0) return;
  throw new TransformationCodeError(`the code imports ${specifiers.map((s) => `"${s}"`).join(', ')}; transformations cannot import modules`, versionId);
}

export function refuseImport(specifier: string): never {
  throw new Error(`cannot import "${specifier}"`);
}

export function describeStartFailure(stage: string, err: unknown, isolateDisposed: boolean, limits: SandboxLimits): string {
  const kind = isolateFailureKind(err, isolateDisposed);
  if (kind === 'timeout') return `${stage} timed out after ${limits.timeoutMs} ms`;
  if (kind === 'memory') return `${stage} ran out of memory (limit ${limits.memoryMb} MB)`;
  return `${stage} threw ${describeError(err)}`;
}

/** The bootstrap's own error (no usable export) is the message itself; the rest say where it failed. */
export function describeSetupFailure(err: unknown, isolateDisposed: boolean, limits: SandboxLimits): string {
  const message = errorMessage(err);
  if (isolateFailureKind(err, isolateDisposed) === undefined && message !== undefined) return message;
  return describeStartFailure('reading its exports', err, isolateDisposed, limits);
}
