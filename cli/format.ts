/**
 * The `ferry` CLI's human output: aligned tables, relative times, and ANSI colour when it is wanted
 * (the caller decides: stdout is a terminal and NO_COLOR is unset). `--json` bypasses all of this.
 */
import type { FerryStatus, StuckUser } from '../ops/supervisorClient';

export type Paint = (text: string) => string;

export interface Palette {
  readonly bold: Paint;
  readonly dim: Paint;
  readonly red: Paint;
  readonly green: Paint;
  readonly yellow: Paint;
}

const sgr =
  (open: number, close: number): Paint =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`;

const plain: Paint = (text) => text;

/** ANSI colours, or none. */
export function palette(colour: boolean): Palette {
  if (!colour) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39) };
}

export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/** A cell's text, and the colour it is painted in once padded (padding counts the text only). */
export type Cell = string | { readonly text: string; readonly paint?: Paint };

/** Columns two spaces apart, each as wide as its widest cell; headers in bold. */
export function table(columns: readonly Column[], rows: ReadonlyArray<readonly Cell[]>, colours: Palette): string {
  const texts = rows.map((row) => columns.map((_, i) => cellText(row[i])));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...texts.map((row) => row[i]!.length)));
  const line = (cells: ReadonlyArray<{ text: string; paint: Paint }>) =>
    cells
      .map(({ text, paint }, i) => {
        const pad = ' '.repeat(widths[i]! - text.length);
        return columns[i]!.align === 'right' ? pad + paint(text) : i === cells.length - 1 ? paint(text) : paint(text) + pad;
      })
      .join('  ')
      .trimEnd();
  const header = line(columns.map((column) => ({ text: column.header, paint: colours.bold })));
  const body = rows.map((row, r) => line(columns.map((_, i) => ({ text: texts[r]![i]!, paint: cellPaint(row[i]) }))));
  return [header, ...body].join('\n');
}

function cellText(cell: Cell | undefined): string {
  const text = cell === undefined ? '' : typeof cell === 'string' ? cell : cell.text;
  return text.replace(/[\r\n\t]+/g, ' ');
}

function cellPaint(cell: Cell | undefined): Paint {
  return typeof cell === 'object' && cell.paint ? cell.paint : plain;
}

/** `42s`, `5m 3s`, `2h 5m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ${Math.floor((s % 3_600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3_600)}h`;
}

/** `5m 3s ago` or `in 30s`, from an ISO timestamp; the text itself if it is no date. */
export function relativeTime(iso: string, now: Date): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const delta = at - now.getTime();
  return delta > 500 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

const NUMBER = new Intl.NumberFormat('en-US');

export interface RenderOptions {
  readonly colours: Palette;
  readonly now: Date;
  /** Whether the backlog and relays were read (the CLI reads them only with DATABASE_URL). @default true */
  readonly backlogKnown?: boolean;
}

/** `ferry status` (and every command that changes it) for a person. */
export function renderStatus(status: FerryStatus, { colours, now, backlogKnown = true }: RenderOptions): string {
  const c = colours;
  const dash = { text: '-', paint: c.dim };
  const modeText = status.mode === 'normal' ? c.green(status.mode) : c.bold(c.yellow(status.mode));
  const modeDetails = [
    status.modeBy ? `by ${status.modeBy}` : undefined,
    status.modeSince ? `since ${status.modeSince} (${relativeTime(status.modeSince, now)})` : undefined,
    status.modeReason ? `reason: ${status.modeReason}` : undefined,
  ].filter((part): part is string => part !== undefined);
  const { backlog } = status;
  const backlogText =
    backlog.unrelayedRows === 0
      ? 'no events waiting to be relayed'
      : `${NUMBER.format(backlog.unrelayedRows)} event${backlog.unrelayedRows === 1 ? '' : 's'} not yet relayed${backlog.oldestAt ? `, oldest ${relativeTime(backlog.oldestAt, now)}` : ''}`;
  const relaysText = `${backlog.relays} live${backlog.relays === 0 ? c.red(' (no relay: stored events are not forwarded)') : ''}`;
  const unknown = c.dim('unknown (set DATABASE_URL to read it)');
  const summary = [
    ['Mode', `${modeText}${modeDetails.length ? `  ${c.dim(modeDetails.join(', '))}` : ''}`],
    ['Backlog', !backlogKnown ? unknown : backlog.unrelayedRows === 0 ? backlogText : c.yellow(backlogText)],
    ['Relays', !backlogKnown ? unknown : relaysText],
    ['Recent', `${status.recentSelfFailures} self failure${status.recentSelfFailures === 1 ? '' : 's'}, ${status.recentWorkerStarts} worker start${status.recentWorkerStarts === 1 ? '' : 's'}`],
  ].map(([label, value]) => `${c.bold(label!.padEnd(9))}${value}`);

  if (status.destinations.length === 0) return [...summary, '', 'No destinations.', ''].join('\n');
  const stateColour = { active: c.green, paused: c.red, probing: c.yellow } as const;
  const rows = status.destinations.map((d): Cell[] => [
    d.id,
    { text: d.state, paint: stateColour[d.state] ?? plain },
    d.by ?? dash,
    d.since ? relativeTime(d.since, now) : dash,
    d.nextProbeAt ? relativeTime(d.nextProbeAt, now) : dash,
    NUMBER.format(d.recent.attempts),
    { text: NUMBER.format(d.recent.failures), paint: d.recent.failures > 0 ? c.red : plain },
    d.reason ?? dash,
  ]);
  const windows = [...new Set(status.destinations.map((d) => d.recent.windowSeconds))].sort((a, b) => a - b);
  const destinations = table(
    [
      { header: 'DESTINATION' },
      { header: 'STATE' },
      { header: 'BY' },
      { header: 'SINCE' },
      { header: 'NEXT PROBE' },
      { header: 'ATTEMPTS', align: 'right' },
      { header: 'FAILURES', align: 'right' },
      { header: 'REASON' },
    ],
    rows,
    c,
  );
  return [...summary, '', destinations, c.dim(`(attempts and failures: the last ${windows.join('/')} s)`), ''].join('\n');
}

/** `ferry stuck` for a person. */
export function renderStuck(destinationId: string, users: readonly StuckUser[], limit: number, { colours, now }: RenderOptions): string {
  const c = colours;
  if (users.length === 0) return `No user is stuck on ${destinationId}.\n`;
  const dash = { text: '-', paint: c.dim };
  const rows = users.map((u): Cell[] => [u.workflowId, u.sourceId ?? dash, u.userKey ?? dash, u.startedAt ? relativeTime(u.startedAt, now) : dash]);
  const heading = `${users.length} user${users.length === 1 ? '' : 's'} stuck on ${destinationId} (retrying or paused):`;
  const more = users.length >= limit ? [c.dim(`(the first ${limit}; --limit N lists more)`)] : [];
  return [heading, '', table([{ header: 'WORKFLOW ID' }, { header: 'SOURCE' }, { header: 'USER' }, { header: 'STARTED' }], rows, c), ...more, ''].join('\n');
}
