/**
 * The worker's long-lived sandboxes: a few isolates per transformation version, started on first use
 * and reused, so the module is compiled and its top-level code run once per isolate, not per event.
 */
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './limits';
import { Sandbox } from './sandbox';
import type { SandboxAnswer } from './bootstrap';
import type { UserTransformation } from './types';

export class UserTransformationSandboxes {
  private readonly pools = new Map<string, VersionPool>();
  private closed = false;

  constructor(readonly limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS) {}

  /** Runs one call in an isolate of this version, waiting for one when all are busy. See Sandbox.call. */
  async call(transformation: UserTransformation, events: readonly unknown[], metadata: readonly unknown[]): Promise<SandboxAnswer> {
    if (this.closed) throw new Error('user transformation sandboxes are disposed');
    let pool = this.pools.get(transformation.versionId);
    if (!pool) {
      pool = new VersionPool(transformation, this.limits);
      this.pools.set(transformation.versionId, pool);
    }
    const sandbox = await pool.acquire();
    try {
      return await sandbox.call(events, metadata);
    } finally {
      pool.release(sandbox);
    }
  }

  /** Isolates alive for a version, busy or idle; for tests and metrics. */
  isolateCount(versionId: string): number {
    return this.pools.get(versionId)?.live ?? 0;
  }

  /** Disposes every isolate; calls in flight fail. For worker shutdown. */
  dispose(): void {
    this.closed = true;
    for (const pool of this.pools.values()) pool.dispose();
    this.pools.clear();
  }
}

class VersionPool {
  /** Sandboxes started and not yet discarded, busy or idle. */
  live = 0;
  private readonly idle: Sandbox[] = [];
  private readonly busy = new Set<Sandbox>();
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly transformation: UserTransformation,
    private readonly limits: SandboxLimits,
  ) {}

  async acquire(): Promise<Sandbox> {
    for (;;) {
      if (this.closed) throw new Error('user transformation sandboxes are disposed');
      const sandbox = this.idle.pop();
      if (sandbox) {
        if (sandbox.usable) return this.lend(sandbox);
        this.live -= 1;
        continue;
      }
      if (this.live < this.limits.isolatesPerVersion) {
        this.live += 1;
        try {
          return this.lend(await Sandbox.start(this.transformation, this.limits));
        } catch (err) {
          this.live -= 1;
          this.wakeOne();
          throw err;
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(sandbox: Sandbox): void {
    this.busy.delete(sandbox);
    if (sandbox.usable && !this.closed) {
      this.idle.push(sandbox);
    } else {
      sandbox.dispose();
      this.live -= 1;
    }
    this.wakeOne();
  }

  dispose(): void {
    this.closed = true;
    for (const sandbox of [...this.idle, ...this.busy]) sandbox.dispose();
    this.idle.length = 0;
    for (const wake of this.waiting.splice(0)) wake();
  }

  private lend(sandbox: Sandbox): Sandbox {
    this.busy.add(sandbox);
    return sandbox;
  }

  private wakeOne(): void {
    this.waiting.shift()?.();
  }
}
