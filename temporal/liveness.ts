/**
 * Notices a Temporal server that is running but no longer serving, so that `npm start` can restart it
 * as it restarts one that exited. Measured here: under a burst of new workflows the dev server's SQLite
 * driver cancelled a statement and from then on failed every transaction with "interrupted (9)"; its
 * history shard never loaded again ("shard status unknown"), deliveries stopped, and the process stayed
 * up for good. A restart on the same SQLite file recovers it with nothing lost.
 */
import { Connection } from '@temporalio/client';

/** A workflow id no one starts: asking for it makes the server read its history shard from the database. */
const PROBE_WORKFLOW_ID = 'ferry-liveness-probe';
const GRPC_NOT_FOUND = 5;

export interface LivenessOptions {
  readonly address: string;
  readonly namespace: string;
  /**
   * How long every probe may fail before the server counts as stuck. Longer than any stall a healthy
   * server shows under load or while it is briefly frozen. @default 60000
   */
  readonly stuckAfterMs?: number;
  /** Time between probes. @default 5000 */
  readonly intervalMs?: number;
  /** Deadline of one probe. @default 5000 */
  readonly probeTimeoutMs?: number;
  /** Called once, when the server has failed every probe for stuckAfterMs; the watch then ends. */
  readonly onStuck: (failure: { readonly failingForMs: number; readonly lastError: string }) => void;
}

export interface LivenessWatch {
  stop(): Promise<void>;
}

/**
 * One probe: the server serves when it can look a workflow up in its history shard. "Not found" is the
 * healthy answer; an unavailable shard, a persistence error or no answer within the deadline is not.
 */
export async function probeTemporal(connection: Connection, namespace: string, timeoutMs: number): Promise<string | undefined> {
  try {
    await connection.withDeadline(Date.now() + timeoutMs, () =>
      connection.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId: PROBE_WORKFLOW_ID } }),
    );
    return undefined;
  } catch (err) {
    if ((err as { code?: unknown }).code === GRPC_NOT_FOUND) return undefined;
    return err instanceof Error ? err.message : String(err);
  }
}

/** Probes the server every intervalMs until stopped or until it is found stuck. */
export function watchLiveness({ address, namespace, stuckAfterMs = 60_000, intervalMs = 5_000, probeTimeoutMs = 5_000, onStuck }: LivenessOptions): LivenessWatch {
  let stopped = false;
  let connection: Connection | undefined;
  let wake: () => void = () => undefined;
  const loop = (async () => {
    let failingSince: number | undefined;
    while (!stopped) {
      let error: string | undefined;
      try {
        connection ??= await Connection.connect({ address, connectTimeout: probeTimeoutMs });
        error = await probeTemporal(connection, namespace, probeTimeoutMs);
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      if (stopped) return;
      if (error === undefined) {
        failingSince = undefined;
      } else {
        failingSince ??= Date.now();
        const failingForMs = Date.now() - failingSince;
        if (failingForMs >= stuckAfterMs) {
          stopped = true;
          onStuck({ failingForMs, lastError: error });
          return;
        }
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs).unref();
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake();
      await loop;
      await connection?.close().catch(() => undefined);
    },
  };
}
