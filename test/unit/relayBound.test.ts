/**
 * The relay's read bound from a snapshot's xmax and the 32-bit xids of the log writers' open
 * transactions (pg_stat_activity). PostgreSQL puts xmax at the latest completed xid + 1, so open
 * writers' ids lie on both sides of it; the bound is the lowest of them all, widened to 64 bits.
 */
import { logReadBound } from '../../relay/relay';

const EPOCH = 2n ** 32n;

const cases: Array<{ id: string; description: string; xmax: bigint; writers: string[]; expected: bigint }> = [
  { id: 'none', description: 'no open writer: xmax', xmax: 729n, writers: [], expected: 729n },
  { id: 'at', description: 'a writer holding xmax itself', xmax: 729n, writers: ['729'], expected: 729n },
  { id: 'below', description: 'a writer below xmax holds the bound down', xmax: 729n, writers: ['731', '700', '729'], expected: 700n },
  { id: 'above', description: 'writers above xmax (started after the latest completion) do not lower it', xmax: 729n, writers: ['730', '731'], expected: 729n },
  { id: 'epoch-below', description: 'a writer in the previous epoch, just before the wrap', xmax: EPOCH + 5n, writers: [String(EPOCH - 6n)], expected: EPOCH - 6n },
  { id: 'epoch-above', description: 'xmax just before the wrap, a writer just after it', xmax: EPOCH - 2n, writers: ['3'], expected: EPOCH - 2n },
  { id: 'epoch-above-below', description: 'xmax just before the wrap, writers on both sides', xmax: EPOCH - 2n, writers: ['3', String(EPOCH - 10n)], expected: EPOCH - 10n },
];

describe('logReadBound', () => {
  test.each(cases)('$id: $description', ({ xmax, writers, expected }) => {
    expect(logReadBound(xmax, writers)).toBe(expected);
  });

  it('never returns more than xmax, nor less than any open writer', () => {
    for (let i = 0; i < 1_000; i++) {
      const xmax = EPOCH * BigInt(i % 3) + BigInt(1_000 + ((i * 7919) % 1_000_000));
      const writers = Array.from({ length: i % 5 }, (_, k) => xmax + BigInt(((i * 31 + k * 977) % 2_001) - 1_000));
      const bound = logReadBound(xmax, writers.map((w) => String(w % EPOCH)));
      expect(bound <= xmax).toBe(true);
      for (const w of writers) expect(bound <= w).toBe(true);
      expect(writers.some((w) => w === bound) || bound === xmax).toBe(true);
    }
  });
});
