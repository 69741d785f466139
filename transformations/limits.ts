/** Resource limits of the isolates that run user transformations. */
export interface SandboxLimits {
  /**
   * Heap limit of one isolate, in MB. An isolate that exceeds it is killed (the worker is not) and
   * the event it was running is aborted. isolated-vm's minimum is 8.
   * @default 128
   */
  readonly memoryMb: number;
  /**
   * Longest one call into the transformation may run, in ms: one transformEvent call, one
   * transformBatch call, or the module's top-level code. Measured as wall time of the run by
   * isolated-vm, plus a host timer for promises that never settle.
   * @default 4000
   */
  readonly timeoutMs: number;
  /**
   * Isolates kept per transformation version. More than one lets a slow or looping event hold one
   * isolate while other workflows' events for the same transformation run in another.
   * @default 2
   */
  readonly isolatesPerVersion: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { memoryMb: 128, timeoutMs: 4_000, isolatesPerVersion: 2 };
