/**
 * Group commit: many callers' rows written by one statement in one transaction, each caller resolved
 * only once that transaction has committed. The first queued row arms a timer; the batch is written
 * when the timer fires or when it reaches `maxRows`, whichever comes first. One write is in flight at
 * a time, so rows are committed in the order they were queued.
 */

export interface GroupCommitOptions {
  /** Rows per transaction at most. @default 256 */
  readonly maxRows?: number;
  /** How long the first queued row waits for others; 0 writes as soon as the previous write is done. @default 2 */
  readonly maxWaitMs?: number;
}

/** Writes a batch in one transaction; resolves once it has committed, rejects if it did not. */
export type BatchWriter<R> = (rows: readonly R[]) => Promise<void>;

interface Pending<R> {
  readonly rows: readonly R[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class GroupCommit<R> {
  private queue: Array<Pending<R>> = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private due = false;
  private readonly maxRows: number;
  private readonly maxWaitMs: number;

  constructor(
    private readonly write: BatchWriter<R>,
    { maxRows = 256, maxWaitMs = 2 }: GroupCommitOptions = {},
  ) {
    this.maxRows = maxRows;
    this.maxWaitMs = maxWaitMs;
  }

  /**
   * Queues rows that must commit together (one caller's rows never span two transactions, even past
   * maxRows); resolves once they have.
   */
  add(rows: readonly R[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      if (this.queuedRows >= this.maxRows || this.maxWaitMs === 0) this.due = true;
      else this.timer ??= setTimeout(() => this.markDue(), this.maxWaitMs);
      this.pump();
    });
  }

  /** Rows queued and not yet written, for metrics and back-pressure. */
  get backlog(): number {
    return this.queuedRows;
  }

  private markDue(): void {
    this.timer = undefined;
    this.due = true;
    this.pump();
  }

  private pump(): void {
    if (this.writing || !this.due || this.queue.length === 0) return;
    const batch: Array<Pending<R>> = [];
    let rows = 0;
    while (this.queue.length > 0 && (batch.length === 0 || rows + this.queue[0]!.rows.length <= this.maxRows)) {
      const next = this.queue.shift()!;
      batch.push(next);
      rows += next.rows.length;
    }
    this.queuedRows -= rows;
    // What is left is due at once if it is already a full batch, else after its own wait.
    this.due = this.queuedRows >= this.maxRows || (this.queuedRows > 0 && this.maxWaitMs === 0);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queuedRows > 0 && !this.due) this.timer = setTimeout(() => this.markDue(), this.maxWaitMs);
    this.writing = true;
    this.write(batch.flatMap((p) => p.rows)).then(
      () => this.settle(batch, undefined),
      (err: unknown) => this.settle(batch, err ?? new Error('group commit failed')),
    );
  }

  private settle(batch: ReadonlyArray<Pending<R>>, err: unknown): void {
    this.writing = false;
    for (const pending of batch) {
      if (err === undefined) pending.resolve();
      else pending.reject(err);
    }
    this.pump();
  }
}
