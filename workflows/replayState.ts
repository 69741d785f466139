/**
 * A replay or re-drive job's bookkeeping, kept apart from the workflow so that it can be tested
 * without Temporal: counts, where the job stands, pacing, and the progress an operator sees.
 */
import type { ItemResult } from '../activities/contract';
import type { ReplayCursor } from '../activities/replayContract';
import type { ReplayArgs, ReplayCarry, ReplayCounts, ReplayProgress, ReplayStatus } from './replayDefinitions';

export class ReplayJob {
  private total: number;
  private counts: { delivered: number; filtered: number; aborted: number };
  private readonly startedAt: number;
  cursor?: ReplayCursor;
  private status: ReplayStatus;
  private waitingFor?: string;
  /** When the next delivery may start, epoch ms: spaces the job's sends at the paced rate. */
  private nextSendAt = 0;

  constructor(
    private readonly args: ReplayArgs,
    now: number,
  ) {
    const carry = args.carry;
    this.total = carry?.total ?? 0;
    this.counts = { ...(carry?.counts ?? { delivered: 0, filtered: 0, aborted: 0 }) };
    this.startedAt = carry?.startedAt ?? now;
    this.cursor = carry?.cursor;
    this.status = carry ? 'running' : 'planning';
  }

  get done(): number {
    return this.counts.delivered + this.counts.filtered + this.counts.aborted;
  }

  planned(deliveries: number): void {
    this.total = deliveries;
    this.status = 'running';
  }

  settled(results: readonly ItemResult[]): void {
    for (const r of results) this.counts[r.outcome] += 1;
  }

  advance(cursor: ReplayCursor | undefined): void {
    this.cursor = cursor;
  }

  waiting(why: string): void {
    this.status = 'waiting';
    this.waitingFor = why;
  }

  running(): void {
    if (this.status !== 'waiting') return;
    this.status = 'running';
    this.waitingFor = undefined;
  }

  completed(): void {
    this.status = 'completed';
    this.waitingFor = undefined;
    // Dead letters aborted again while the job ran, or rows that appeared in the range, change the total.
    this.total = Math.max(this.total, this.done);
  }

  /**
   * How long to wait before sending `count` more events, so the job keeps to its rate whatever the
   * number of lanes sending at once. Reserves the slot: call once per send.
   */
  delayFor(count: number, now: number): number {
    const at = Math.max(this.nextSendAt, now);
    this.nextSendAt = at + (count * 1_000) / Math.max(this.args.pacing.eventsPerSecond, 0.001);
    return at - now;
  }

  progress(now: number): ReplayProgress {
    const elapsedS = Math.max((now - this.startedAt) / 1_000, 0.001);
    const rate = this.done / elapsedS;
    const left = Math.max(this.total - this.done, 0);
    return {
      kind: this.args.request.kind,
      status: this.status,
      ...(this.waitingFor ? { waitingFor: this.waitingFor } : {}),
      total: Math.max(this.total, this.done),
      done: this.done,
      counts: { ...this.counts } satisfies ReplayCounts,
      startedAt: new Date(this.startedAt).toISOString(),
      ratePerSecond: Math.round(rate * 10) / 10,
      ...(this.status !== 'completed' && rate > 0 ? { etaSeconds: Math.ceil(left / rate) } : {}),
    };
  }

  /** One line for the Web UI's current details. */
  details(now: number): string {
    const p = this.progress(now);
    const wait = p.waitingFor ? ` — waiting: ${p.waitingFor}` : '';
    return `**${p.kind}** ${p.status}: ${p.done} / ${p.total} (${p.counts.delivered} delivered, ${p.counts.filtered} filtered, ${p.counts.aborted} aborted), ${p.ratePerSecond}/s${wait}`;
  }

  carry(): ReplayCarry {
    return { total: this.total, counts: { ...this.counts }, startedAt: this.startedAt, ...(this.cursor ? { cursor: this.cursor } : {}) };
  }
}
