/**
 * A row's place in the log's relay order: its transaction id (xid8, as text), then its sequence
 * number. Pure, so that workflows can compare positions too.
 */
export interface LogPosition {
  readonly xid: string;
  readonly seq: number;
}

/** The position before every row. */
export const LOG_START: LogPosition = { xid: '0', seq: 0 };

/** Negative when `a` comes before `b`, positive after, 0 when equal. xid8 values exceed 2^53, hence BigInt. */
export function comparePositions(a: LogPosition, b: LogPosition): number {
  const ax = BigInt(a.xid);
  const bx = BigInt(b.xid);
  if (ax !== bx) return ax < bx ? -1 : 1;
  return a.seq - b.seq;
}

export function laterPosition(a: LogPosition, b: LogPosition): LogPosition {
  return comparePositions(a, b) >= 0 ? a : b;
}
