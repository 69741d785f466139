import { GroupCommit } from '../../db/groupCommit';

/** A writer that records each batch and lets the test decide when (and whether) it commits. */
function recordingWriter() {
  const batches: number[][] = [];
  const pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  const write = (rows: readonly number[]) =>
    new Promise<void>((resolve, reject) => {
      batches.push([...rows]);
      pending.push({ resolve, reject });
    });
  return { batches, pending, write };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('GroupCommit', () => {
  it('writes the rows queued while a write is in flight as the next batch, in order', async () => {
    const w = recordingWriter();
    const commits = new GroupCommit(w.write, { maxRows: 100, maxWaitMs: 0 });
    const done: number[] = [];
    const first = commits.add([1]).then(() => done.push(1));
    await tick();
    const later = [commits.add([2, 3]).then(() => done.push(2)), commits.add([4]).then(() => done.push(4))];
    await tick();
    expect(w.batches).toEqual([[1]]);
    w.pending[0]!.resolve();
    await first;
    await tick();
    expect(w.batches).toEqual([[1], [2, 3, 4]]);
    expect(done).toEqual([1]);
    w.pending[1]!.resolve();
    await Promise.all(later);
    expect(done).toEqual([1, 2, 4]);
  });

  it('waits maxWaitMs for more rows, but writes at once when maxRows are queued', async () => {
    const w = recordingWriter();
    const commits = new GroupCommit(w.write, { maxRows: 3, maxWaitMs: 50 });
    void commits.add([1]);
    await tick();
    expect(w.batches).toEqual([]);
    void commits.add([2, 3]);
    await tick();
    expect(w.batches).toEqual([[1, 2, 3]]);
    void commits.add([4]);
    w.pending[0]!.resolve();
    await tick();
    expect(w.batches).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(w.batches).toEqual([[1, 2, 3], [4]]);
  });

  it('never splits one caller’s rows across two transactions', async () => {
    const w = recordingWriter();
    const commits = new GroupCommit(w.write, { maxRows: 2, maxWaitMs: 0 });
    void commits.add([1]);
    void commits.add([2, 3, 4]);
    void commits.add([5]);
    await tick();
    w.pending[0]!.resolve();
    await tick();
    w.pending[1]!.resolve();
    await tick();
    expect(w.batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('rejects every caller of a batch that failed, and carries on with the next', async () => {
    const w = recordingWriter();
    const commits = new GroupCommit(w.write, { maxWaitMs: 0 });
    const a = commits.add([1]);
    await tick();
    const b = commits.add([2]);
    const c = commits.add([3]);
    w.pending[0]!.reject(new Error('database away'));
    await expect(a).rejects.toThrow('database away');
    await tick();
    w.pending[1]!.reject(new Error('still away'));
    await expect(b).rejects.toThrow('still away');
    await expect(c).rejects.toThrow('still away');
    const d = commits.add([4]);
    await tick();
    w.pending[2]!.resolve();
    await expect(d).resolves.toBeUndefined();
    expect(w.batches).toEqual([[1], [2, 3], [4]]);
  });
});
