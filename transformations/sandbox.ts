/**
 * One isolate running one transformation version: the user's module, started once, then called per
 * event (transformEvent) or per batch (transformBatch). A call that times out or kills the isolate
 * leaves the sandbox unusable, and its pool starts a fresh one for the next call.
 */
import ivm from 'isolated-vm';
import { BOOTSTRAP_SOURCE, isMode, moduleFilename, parseAnswer, type SandboxAnswer } from './bootstrap';
import { describeSetupFailure, describeStartFailure, refuseImport, rejectImports } from './compile';
import { isolateFailureKind, SANDBOX_ERROR_KINDS, SandboxError, TransformationCodeError } from './errors';
import type { SandboxLimits } from './limits';
import type { UserTransformation } from './types';

type RunFunction = (eventsJson: string, metadataJson: string) => Promise<string>;

export class Sandbox {
  /** Set when Ferry disposed the isolate, so that its death is not taken for the memory limit. */
  private disposedByFerry = false;

  private constructor(
    readonly transformation: UserTransformation,
    private readonly limits: SandboxLimits,
    private readonly isolate: ivm.Isolate,
    private readonly run: ivm.Reference<RunFunction>,
  ) {}

  /**
   * Starts the transformation in a new isolate. Throws SandboxError when the code cannot start
   * (it passed the load-time check, but top-level code may behave differently this time).
   */
  static async start(transformation: UserTransformation, limits: SandboxLimits): Promise<Sandbox> {
    const isolate = new ivm.Isolate({ memoryLimit: limits.memoryMb });
    try {
      const context = await isolate.createContext();
      const bootstrap = await context.evalClosure(BOOTSTRAP_SOURCE, [], { result: { reference: true } });
      const module = await isolate.compileModule(transformation.code, { filename: moduleFilename(transformation.versionId) });
      rejectImports(module.dependencySpecifiers, transformation.versionId);
      await module.instantiate(context, refuseImport);
      try {
        await module.evaluate({ timeout: limits.timeoutMs });
      } catch (err) {
        throw startFailure(transformation, describeStartFailure('its top-level code', err, isolate.isDisposed, limits), err);
      }
      const setup = await bootstrap.get('setup', { reference: true });
      let mode: unknown;
      try {
        mode = await setup.apply(undefined, [module.namespace.derefInto()], { timeout: limits.timeoutMs });
      } catch (err) {
        throw startFailure(transformation, describeSetupFailure(err, isolate.isDisposed, limits), err);
      }
      if (!isMode(mode) || mode !== transformation.mode) {
        throw startFailure(transformation, `exports ${String(mode)} mode, not the ${transformation.mode} mode found when the workspace loaded`);
      }
      const run = (await bootstrap.get('run', { reference: true })) as ivm.Reference<RunFunction>;
      return new Sandbox(transformation, limits, isolate, run);
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose();
      if (err instanceof TransformationCodeError) throw startFailure(transformation, err.message, err);
      throw err;
    }
  }

  /** False once the isolate is gone: timed out, killed by its memory limit, or disposed. */
  get usable(): boolean {
    return !this.isolate.isDisposed;
  }

  /**
   * Runs the exported function on `events` (exactly one in event mode). Resolves to the code's
   * answer, its own exception included; rejects with SandboxError when the run timed out or the
   * isolate died, and with any other error only when Ferry itself is at fault.
   */
  async call(events: readonly unknown[], metadata: readonly unknown[]): Promise<SandboxAnswer> {
    const { timeoutMs } = this.limits;
    let timer: NodeJS.Timeout | undefined;
    // isolated-vm's timeout stops running code; the host timer also catches a promise that never
    // settles, which leaves no code running for that timeout to stop.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.failure(SANDBOX_ERROR_KINDS.timeout)), timeoutMs);
    });
    const pending = this.run.apply(undefined, [JSON.stringify(events), JSON.stringify(metadata)], { timeout: timeoutMs, result: { promise: true } });
    // Once the deadline wins the race, this rejects when the isolate is disposed; nobody waits for it.
    pending.catch(() => undefined);
    try {
      const answer = parseAnswer(await Promise.race([pending, deadline]));
      if (!answer) throw this.failure(SANDBOX_ERROR_KINDS.output);
      return answer;
    } catch (err) {
      const kind = err instanceof SandboxError ? undefined : isolateFailureKind(err, this.isolate.isDisposed && !this.disposedByFerry);
      // Whatever happened, the isolate's state is unknown now: the next call gets a fresh one.
      this.dispose();
      if (kind) throw this.failure(kind, err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    if (this.isolate.isDisposed) return;
    this.disposedByFerry = true;
    this.isolate.dispose();
  }

  private failure(kind: 'timeout' | 'memory' | 'output', cause?: unknown): SandboxError {
    const { name, versionId } = this.transformation;
    const message = {
      timeout: `user transformation "${name}" timed out after ${this.limits.timeoutMs} ms`,
      memory: `user transformation "${name}" ran out of memory (limit ${this.limits.memoryMb} MB); its isolate was discarded`,
      output: `user transformation "${name}" gave an answer Ferry cannot read; did the code replace JSON or Array built-ins?`,
    }[kind];
    return new SandboxError(message, kind, versionId, { cause });
  }
}

function startFailure(transformation: UserTransformation, why: string, cause?: unknown): SandboxError {
  return new SandboxError(`user transformation "${transformation.name}" could not start: ${why}`, SANDBOX_ERROR_KINDS.start, transformation.versionId, { cause });
}
