/**
 * The `ferry` commands for replays, re-drives and resets (ops/replayClient.ts):
 *
 *   ferry replay --source ID [--destination ID] [--user KEY] --from T --to T [--dry-run] [--rate N]
 *                [--max-live-backlog N] [--detach] [--json]
 *   ferry redrive --destination ID [--source ID] [--since T] [--dry-run] [--rate N] [--detach] [--json]
 *   ferry job ID [--watch] [--json]          a replay's or re-drive's progress
 *   ferry cancel ID [--json]                 stop a replay or re-drive
 *   ferry reprocess --workflow ID [--to-event N] [--json]
 *
 * A replay or re-drive runs as a workflow; the CLI starts it and, unless --detach, follows it with a
 * progress bar (a terminal) or a line every few seconds (a log), until it ends.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { FerryError } from '../errors/ferryError';
import type { JobStatus, ReplayOps, ResetResult } from '../ops/replayClient';
import type { ReplayPacing } from '../workflows/replayDefinitions';
import { formatDuration, table, type Palette } from './format';

export interface ReplayCommandDeps {
  readonly replays: () => Promise<ReplayOps>;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly isTty: boolean;
  readonly colours: Palette;
  /** How often a followed job is polled. @default 1000 */
  readonly pollMs?: number;
}

/** A followed replay or re-drive ended other than completed (cancelled, failed, terminated). */
export class JobUnfinishedError extends FerryError {
  constructor(readonly status: JobStatus) {
    super(`${status.workflowId} ended ${status.state}`);
  }
}

interface JobOptions {
  readonly json?: boolean;
  readonly dryRun?: boolean;
  readonly detach?: boolean;
  readonly rate?: number;
  readonly maxLiveBacklog?: number;
}

/** A line for logs (not a terminal) every this often while a job is followed. */
const LOG_EVERY_MS = 10_000;
const BAR_WIDTH = 30;

export function addReplayCommands(program: Command, deps: ReplayCommandDeps): void {
  const follow = async (started: JobStatus, options: JobOptions): Promise<void> => {
    const replays = await deps.replays();
    if (options.detach) {
      write(deps, options, started, () => `started ${started.workflowId}\nfollow it with: ferry job ${started.workflowId} --watch\n`);
      return;
    }
    const final = await watch(replays, started.workflowId, deps);
    write(deps, options, final, () => renderJob(final, deps.colours));
    if (final.state !== 'completed') throw new JobUnfinishedError(final);
  };

  program
    .command('replay')
    .description("send a range of the log again, in each user's order, to one destination or all of the source's (a workflow: resumable, cancellable)")
    .requiredOption('--source <id>', 'the source whose events to replay')
    .option('--destination <id>', "one destination (default: every destination of the source)")
    .option('--user <key>', 'one user, as the log keys them (user:<userId> or anon:<anonymousId>)')
    .requiredOption('--from <time>', 'from this time (ISO 8601), inclusive, by when Ferry stored the event', parseTime)
    .requiredOption('--to <time>', 'to this time (ISO 8601, or "now"), exclusive', parseTime)
    .option('--dry-run', 'count the events per user and destination, send nothing')
    .option('--rate <events/s>', 'events sent per second at most (default 200)', parsePositive)
    .option('--max-live-backlog <rows>', 'wait while the live log backlog is above this (default 1000)', parseWhole)
    .option('--detach', 'start the job and return; follow it with `ferry job ID --watch`')
    .option('--json', 'print the job status as one JSON object')
    .action(async (options: JobOptions & { source: string; destination?: string; user?: string; from: Date; to: Date }) => {
      const started = await (await deps.replays()).replay({
        sourceId: options.source,
        from: options.from,
        to: options.to,
        ...(options.destination ? { destinationId: options.destination } : {}),
        ...(options.user ? { userKey: options.user } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
        pacing: pacingOf(options),
      });
      await follow(started, options);
    });

  program
    .command('redrive')
    .description('deliver a destination’s dead letters again, in their original order, and mark them re-driven (a second re-drive sends nothing)')
    .requiredOption('--destination <id>', 'the destination whose dead letters to re-drive')
    .option('--source <id>', 'only this source’s dead letters')
    .option('--since <time>', 'only dead letters aborted at or after this time (ISO 8601)', parseTime)
    .option('--dry-run', 'count the dead letters per user, send nothing')
    .option('--rate <events/s>', 'events sent per second at most (default 200)', parsePositive)
    .option('--max-live-backlog <rows>', 'wait while the live log backlog is above this (default 1000)', parseWhole)
    .option('--detach', 'start the job and return; follow it with `ferry job ID --watch`')
    .option('--json', 'print the job status as one JSON object')
    .action(async (options: JobOptions & { destination: string; source?: string; since?: Date }) => {
      const started = await (await deps.replays()).redrive({
        destinationId: options.destination,
        ...(options.source ? { sourceId: options.source } : {}),
        ...(options.since ? { since: options.since } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
        pacing: pacingOf(options),
      });
      await follow(started, options);
    });

  program
    .command('job')
    .description('show a replay’s or re-drive’s progress')
    .argument('<id>', 'the job’s workflow id (ferry/replay/… or ferry/redrive/…)')
    .option('--watch', 'follow it until it ends (exit code 5 unless it completed)')
    .option('--json', 'print the job status as one JSON object')
    .action(async (id: string, options: { watch?: boolean; json?: boolean }) => {
      const replays = await deps.replays();
      const status = options.watch ? await watch(replays, id, deps) : await replays.job(id);
      write(deps, options, status, () => renderJob(status, deps.colours));
      // A script that waits for a job learns from the exit code whether it completed.
      if (options.watch && status.state !== 'completed') throw new JobUnfinishedError(status);
    });

  program
    .command('cancel')
    .description('cancel a replay or re-drive: what it was sending settles, nothing more starts; what it sent stays sent')
    .argument('<id>', 'the job’s workflow id')
    .option('--json', 'print the job status as one JSON object')
    .action(async (id: string, options: { json?: boolean }) => {
      const status = await (await deps.replays()).cancel(id);
      write(deps, options, status, () => renderJob(status, deps.colours));
    });

  program
    .command('reprocess')
    .description("reset a user workflow (Temporal's reset) so that the events it received after that point are processed and delivered again")
    .requiredOption('--workflow <id>', 'the user workflow id (ferry/<source>/<user key>)')
    .option('--to-event <n>', 'reset to this finished workflow task of the current run (default: its first)', parseWhole)
    .option('--json', 'print the result as one JSON object')
    .action(async (options: { workflow: string; toEvent?: number; json?: boolean }) => {
      const reset = await (await deps.replays()).reprocess(options.workflow, options.toEvent);
      write(deps, options, reset, () => renderReset(reset));
    });
}

function write<T>(deps: ReplayCommandDeps, options: { json?: boolean }, value: T, render: () => string): void {
  deps.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : render());
}

/** Polls the job until it ends; a terminal gets a progress bar on stderr, a log a line now and then. */
async function watch(replays: ReplayOps, id: string, deps: ReplayCommandDeps): Promise<JobStatus> {
  const pollMs = deps.pollMs ?? 1_000;
  let lastLogAt = 0;
  let drewBar = false;
  for (;;) {
    const status = await replays.job(id);
    const p = status.progress;
    // On stderr even with --json: people watch it, scripts read stdout.
    if (p) {
      if (deps.isTty) {
        deps.stderr.write(`\r\u001b[2K${progressLine(status)}`);
        drewBar = true;
      } else if (Date.now() - lastLogAt >= LOG_EVERY_MS || status.state !== 'running') {
        deps.stderr.write(`${progressLine(status)}\n`);
        lastLogAt = Date.now();
      }
    }
    if (status.state !== 'running') {
      if (drewBar) deps.stderr.write('\n');
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** `[######------] 1 200 / 3 000  40%  210/s  ETA 9s`, and what the job waits for, if anything. */
export function progressLine(status: JobStatus): string {
  const p = status.progress;
  if (!p) return `${status.workflowId}: ${status.state}`;
  const share = p.total > 0 ? Math.min(p.done / p.total, 1) : status.state === 'completed' ? 1 : 0;
  const filled = Math.round(share * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const eta = p.etaSeconds !== undefined && status.state === 'running' ? `  ETA ${formatDuration(p.etaSeconds * 1_000)}` : '';
  const waiting = p.waitingFor ? `  waiting: ${p.waitingFor}` : '';
  return `${bar} ${p.done} / ${p.total}  ${Math.round(share * 100)}%  ${p.ratePerSecond}/s${eta}${waiting}`;
}

export function renderJob(status: JobStatus, colours: Palette): string {
  const p = status.progress;
  const state = status.state === 'completed' ? colours.green(status.state) : status.state === 'running' ? status.state : colours.red(status.state);
  const lines = [`${colours.bold(status.workflowId)}  ${state}`];
  if (p) {
    lines.push(`  ${p.kind}: ${p.done} of ${p.total} settled (${p.counts.delivered} delivered, ${p.counts.filtered} filtered, ${p.counts.aborted} aborted), ${p.ratePerSecond}/s since ${p.startedAt}`);
    if (p.waitingFor) lines.push(`  waiting: ${p.waitingFor}`);
  }
  if (status.plan) {
    lines.push(`  dry run: ${status.plan.events} event(s), ${status.plan.deliveries} deliver(ies); nothing was sent`);
    if (status.plan.lines.length > 0) {
      const rows = status.plan.lines.map((l) => [l.userKey, l.destinationId, { text: String(l.events) }]);
      lines.push(table([{ header: 'USER' }, { header: 'DESTINATION' }, { header: 'EVENTS', align: 'right' }], rows, colours));
      if (status.plan.truncated) lines.push(colours.dim(`  (the first ${status.plan.lines.length} lines)`));
    }
  }
  return `${lines.join('\n')}\n`;
}

function renderReset(reset: ResetResult): string {
  return `${reset.workflowId}: reset to event ${reset.toEventId}; new run ${reset.runId} (was ${reset.previousRunId}); ${reset.clearedDeliveries} delivery record(s) cleared, so its events are sent again\n`;
}

function pacingOf(options: JobOptions): Partial<ReplayPacing> {
  return {
    ...(options.rate !== undefined ? { eventsPerSecond: options.rate } : {}),
    ...(options.maxLiveBacklog !== undefined ? { maxLiveBacklog: options.maxLiveBacklog } : {}),
  };
}

function parseTime(value: string): Date {
  const time = value === 'now' ? new Date() : new Date(value);
  if (Number.isNaN(time.getTime()) || (value !== 'now' && !/^\d{4}-\d{2}-\d{2}/.test(value))) throw new InvalidArgumentError('must be an ISO 8601 time (e.g. 2026-11-26T09:00:00Z) or "now"');
  return time;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number above 0');
  return n;
}

function parseWhole(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return n;
}
