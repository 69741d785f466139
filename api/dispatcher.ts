/**
 * Hands accepted events to Temporal: one signal per user, in request order. While a user's signal is
 * in flight, later events for that user wait and are then sent together as one signal, which keeps
 * each user's order and coalesces bursts for hot users into fewer signals.
 */
import type { Client } from '@temporalio/client';
import type { RoutedEvent } from '../events/event';
import { pipelineWorkflowId, searchAttributes, userKeyOf } from '../temporal/names';
import { eventsSignal, PIPELINE_WORKFLOW_TYPE } from '../workflows/definitions';
import type { PipelineArgs } from '../workflows/pipeline';
import { GatewayError, GatewayErrorType } from './errors';

export interface DispatcherOptions {
  readonly client: Client;
  readonly taskQueue: string;
  /** How long to wait for Temporal to accept a signal. */
  readonly signalTimeoutMs: number;
  /** Signals are split below this many JSON bytes, well under Temporal's 2 MB payload limit. */
  readonly maxSignalBytes?: number;
}

interface Pending {
  readonly events: readonly RoutedEvent[];
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface UserQueue {
  readonly sourceId: string;
  readonly userKey: string;
  readonly pending: Pending[];
  busy: boolean;
}

export class SignalDispatcher {
  private readonly queues = new Map<string, UserQueue>();
  private readonly maxSignalBytes: number;

  constructor(private readonly options: DispatcherOptions) {
    this.maxSignalBytes = options.maxSignalBytes ?? 1_000_000;
  }

  /** Resolves once Temporal has accepted every event; rejects with a 503 GatewayError otherwise. */
  async dispatch(sourceId: string, routed: readonly RoutedEvent[]): Promise<void> {
    const byUser = new Map<string, RoutedEvent[]>();
    for (const item of routed) {
      const key = userKeyOf(item.event);
      const list = byUser.get(key);
      if (list) list.push(item);
      else byUser.set(key, [item]);
    }
    await Promise.all([...byUser].map(([userKey, events]) => this.enqueue(sourceId, userKey, events)));
  }

  /** Users with a signal in flight or waiting; for metrics and shutdown. */
  get activeUsers(): number {
    return this.queues.size;
  }

  private enqueue(sourceId: string, userKey: string, events: RoutedEvent[]): Promise<void> {
    const workflowId = pipelineWorkflowId(sourceId, userKey);
    let queue = this.queues.get(workflowId);
    if (!queue) {
      queue = { sourceId, userKey, pending: [], busy: false };
      this.queues.set(workflowId, queue);
    }
    const chunks = splitBySize(events, this.maxSignalBytes);
    const accepted = chunks.map(
      (chunk) => new Promise<void>((resolve, reject) => queue.pending.push({ events: chunk.events, bytes: chunk.bytes, resolve, reject })),
    );
    void this.pump(workflowId, queue);
    return Promise.all(accepted).then(() => undefined);
  }

  private async pump(workflowId: string, queue: UserQueue): Promise<void> {
    if (queue.busy) return;
    queue.busy = true;
    try {
      while (queue.pending.length > 0) {
        const batch = takeCoalesced(queue.pending, this.maxSignalBytes);
        try {
          await this.signal(workflowId, queue, batch.flatMap((p) => p.events));
          for (const p of batch) p.resolve();
        } catch (err) {
          const failure = new GatewayError(GatewayErrorType.storeUnavailable, 'Event store unavailable, retry later', { cause: err, retryAfterSeconds: 1 });
          for (const p of batch) p.reject(failure);
        }
      }
    } finally {
      queue.busy = false;
      this.queues.delete(workflowId);
    }
  }

  private signal(workflowId: string, queue: UserQueue, events: RoutedEvent[]): Promise<unknown> {
    const { client, taskQueue, signalTimeoutMs } = this.options;
    const args: PipelineArgs = { sourceId: queue.sourceId, userKey: queue.userKey };
    return client.withDeadline(Date.now() + signalTimeoutMs, () =>
      client.workflow.signalWithStart(PIPELINE_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [args],
        signal: eventsSignal,
        signalArgs: [{ events }],
        typedSearchAttributes: [
          { key: searchAttributes.sourceId, value: queue.sourceId },
          { key: searchAttributes.userKey, value: queue.userKey },
        ],
      }),
    );
  }
}

function splitBySize(events: RoutedEvent[], maxBytes: number): Array<{ events: RoutedEvent[]; bytes: number }> {
  const chunks: Array<{ events: RoutedEvent[]; bytes: number }> = [];
  let current: RoutedEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(JSON.stringify(event));
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push({ events: current, bytes });
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) chunks.push({ events: current, bytes });
  return chunks;
}

/** Takes pending entries from the front, as many as fit one signal (always at least one). */
function takeCoalesced(pending: Pending[], maxBytes: number): Pending[] {
  let bytes = 0;
  let count = 0;
  while (count < pending.length) {
    const next = pending[count]!;
    if (count > 0 && bytes + next.bytes > maxBytes) break;
    bytes += next.bytes;
    count += 1;
  }
  return pending.splice(0, count);
}
