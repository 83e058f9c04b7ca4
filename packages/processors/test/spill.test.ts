import { closeSync, mkdirSync, openSync, readSync, statSync, truncateSync, writeFileSync, writeSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DurableSpill, type SpillDropReason, type SpillSignal } from '../src/spill';
import { InvalidOptionError } from '../src/options';
import {
  deadPid,
  drain,
  expectBalanced,
  idOf,
  markHoldersDead,
  payload,
  processDirs,
  segmentFiles,
  tempDir,
  until,
} from './spill-helpers';

const HEADER = 32;
const spills: DurableSpill[] = [];
function newSpill(dir: string, opts: Partial<ConstructorParameters<typeof DurableSpill>[0]> = {}): DurableSpill {
  const s = new DurableSpill({ dir, serviceName: 'svc', ...opts });
  spills.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(spills.splice(0).map((s) => s.close()));
});

async function written(spill: DurableSpill, batches: number): Promise<void> {
  spill.flush();
  await until(() => spill.stats().written.batches >= batches);
}

describe('DurableSpill round trip', () => {
  it('hands back many batches oldest first, byte for byte, from memory and from disk', async () => {
    const dir = tempDir();
    const spill = newSpill(dir);
    await spill.open();
    const signals: SpillSignal[] = ['logs', 'traces', 'metrics'];
    for (let i = 0; i < 300; i++) {
      expect(spill.append({ signal: signals[i % 3], bytes: payload(i, 100 + (i % 50) * 37), records: i + 1, priority: i % 7 })).toBe(true);
    }
    await written(spill, 300);
    // These stay in memory until the next flush: the replay sends them from there.
    for (let i = 300; i < 320; i++) spill.append({ signal: 'logs', bytes: payload(i, 10), records: 1 });

    const { ids, batches } = await drain(spill);
    expect(ids).toEqual(Array.from({ length: 320 }, (_, i) => i));
    for (let i = 0; i < 300; i++) {
      expect(batches[i].signal).toBe(signals[i % 3]);
      expect(batches[i].records).toBe(i + 1);
      expect(batches[i].priority).toBe(i % 7);
      expect(Buffer.from(batches[i].bytes).equals(Buffer.from(payload(i, 100 + (i % 50) * 37)))).toBe(true);
    }
    const s = spill.stats();
    expect(s.replayed.batches).toBe(320);
    expect(s.pending).toEqual({ batches: 0, records: 0, bytes: 0 });
    expect(s.written.batches).toBe(300);
    expectBalanced(s);
  });

  it('rolls segments at segmentBytes and deletes each one once all its batches are sent', async () => {
    const dir = tempDir();
    const spill = newSpill(dir, { segmentBytes: 4096 });
    await spill.open();
    for (let i = 0; i < 40; i++) spill.append({ signal: 'logs', bytes: payload(i, 1000), records: 1 });
    await written(spill, 40);
    const segs = segmentFiles(dir);
    // Four 1032-byte entries are 4128 > 4096: three per segment.
    expect(segs.length).toBe(Math.ceil(40 / 3));
    for (const f of segs.slice(0, -1)) expect(statSync(f).size).toBe(3 * (HEADER + 1000));

    const sent: number[] = [];
    const r = await spill.replay(async (b) => (sent.push(idOf(b.bytes)), 'ok'), { maxBatches: 7 });
    expect(r).toEqual({ sentBatches: 7, sentRecords: 7, stopped: 'limit' });
    await until(() => segmentFiles(dir).length === segs.length - 2);
    expect(segmentFiles(dir)).toEqual(segs.slice(2));
    const rest = await drain(spill);
    expect([...sent, ...rest.ids]).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // The active segment stays (appends go on into it); every sealed one is gone.
    await until(() => segmentFiles(dir).length === 1);
  });

  it("stops at 'retry' keeping the batch, counts 'drop' as rejected, and takes a throwing send as 'retry'", async () => {
    const dir = tempDir();
    const drops: Array<[SpillDropReason, SpillSignal, number]> = [];
    const spill = newSpill(dir, { onDrop: (r, s, n) => drops.push([r, s, n]) });
    await spill.open();
    for (let i = 0; i < 3; i++) spill.append({ signal: 'traces', bytes: payload(i), records: 10 + i });
    expect((await spill.replay(async () => 'retry')).stopped).toBe('retry');
    expect((await spill.replay(async () => { throw new Error('boom'); })).stopped).toBe('retry');
    expect(spill.stats().pending.batches).toBe(3);
    const r = await spill.replay(async (b) => (idOf(b.bytes) === 1 ? 'drop' : 'ok'));
    expect(r).toEqual({ sentBatches: 2, sentRecords: 22, stopped: 'empty' });
    expect(drops).toEqual([['rejected', 'traces', 11]]);
    expect(spill.stats().dropped.rejected).toMatchObject({ batches: 1, records: 11 });
    expectBalanced(spill.stats());
  });

  it('writes on its own every flushIntervalMillis', async () => {
    const spill = newSpill(tempDir(), { flushIntervalMillis: 20 });
    await spill.open();
    spill.append({ signal: 'logs', bytes: payload(1), records: 1 });
    expect(spill.stats().written.batches).toBe(0);
    await until(() => spill.stats().written.batches === 1, 2000);
  });

  it('keeps no index of batches it no longer holds (a long run replaying everything does not grow)', async () => {
    const spill = newSpill(tempDir(), { flushIntervalMillis: 10 });
    await spill.open();
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 1000; i++) spill.append({ signal: 'logs', bytes: payload(i, 16), records: 1, priority: i % 3 });
      await drain(spill);
    }
    await new Promise((r) => setTimeout(r, 50));
    const internals = spill as unknown as { byPriority: Map<number, { items: unknown[] }>; order: { items: unknown[] } };
    for (const q of internals.byPriority.values()) expect(q.items.length).toBeLessThan(1100); // 3,333 each without it
    expect(internals.order.items.length).toBeLessThan(1100);
  });

  it('runs one replay at a time', async () => {
    const spill = newSpill(tempDir());
    await spill.open();
    spill.append({ signal: 'logs', bytes: payload(1), records: 1 });
    let release!: () => void;
    const first = spill.replay(() => new Promise((r) => (release = () => r('ok'))));
    expect((await spill.replay(async () => 'ok')).stopped).toBe('busy');
    await until(() => release !== undefined);
    release();
    expect(await first).toEqual({ sentBatches: 1, sentRecords: 1, stopped: 'empty' });
  });

  it('refuses appends before open and after close, and rejects bad batches and options clearly', async () => {
    const dir = tempDir();
    const spill = newSpill(dir);
    expect(spill.append({ signal: 'logs', bytes: payload(1), records: 1 })).toBe(false);
    await spill.open();
    expect(() => spill.append({ signal: 'nope' as SpillSignal, bytes: payload(1), records: 1 })).toThrow(TypeError);
    expect(() => spill.append({ signal: 'logs', bytes: payload(1), records: 1, priority: 256 })).toThrow(/priority/);
    expect(() => spill.append({ signal: 'logs', bytes: payload(1), records: -1 })).toThrow(/records/);
    await spill.close();
    expect(spill.append({ signal: 'logs', bytes: payload(1), records: 1 })).toBe(false);
    expect((await spill.replay(async () => 'ok')).stopped).toBe('closed');
    expect(spill.stats().available).toBe(false);
    expect(() => new DurableSpill({ dir, flushIntervalMillis: 3e9 })).toThrow(InvalidOptionError);
    expect(() => new DurableSpill({ dir, maxBytes: 1.5 })).toThrow(/maxBytes/);
    expect(() => new DurableSpill({ dir: '' })).toThrow(/dir/);
  });

  it('close() removes a directory that holds nothing and keeps one that holds batches', async () => {
    const dir = tempDir();
    const empty = newSpill(dir);
    await empty.open();
    empty.append({ signal: 'logs', bytes: payload(1), records: 1 });
    await drain(empty);
    const holding = newSpill(dir);
    await holding.open();
    holding.append({ signal: 'logs', bytes: payload(2), records: 1 });
    expect(processDirs(dir, 'svc').length).toBe(2);
    await empty.close();
    await holding.close();
    const left = processDirs(dir, 'svc');
    expect(left.length).toBe(1);
    expect(segmentFiles(join(dir, 'svc', left[0])).length).toBe(1);
  });
});

describe('DurableSpill under concurrent use', () => {
  it('appends while a replay runs: every batch delivered once, in order, whatever state it was in when its turn came', async () => {
    const spill = newSpill(tempDir(), { flushIntervalMillis: 3, segmentBytes: 8192 });
    await spill.open();
    let next = 0;
    const appendSome = (n: number) => {
      for (let i = 0; i < n; i++, next++) spill.append({ signal: 'logs', bytes: payload(next, 500), records: 1 });
    };
    appendSome(20);
    const sent: number[] = [];
    const replay = (async () => {
      for (;;) {
        const r = await spill.replay(async (b) => {
          sent.push(idOf(b.bytes));
          await new Promise((res) => setTimeout(res, 1));
          return 'ok';
        });
        if (r.stopped === 'empty' && next >= 400) return;
        await new Promise((res) => setTimeout(res, 2));
      }
    })();
    while (next < 400) {
      appendSome(7);
      if (next % 3 === 0) spill.flush();
      await new Promise((res) => setImmediate(res));
    }
    await replay;
    expect(sent).toEqual(Array.from({ length: next }, (_, i) => i));
    expectBalanced(spill.stats());
    expect(spill.stats().pending.batches).toBe(0);
  });

  it('does not shed a batch while it is being sent', async () => {
    const entry = HEADER + 1000;
    const spill = newSpill(tempDir(), { maxBytes: 2 * entry });
    await spill.open();
    spill.append({ signal: 'logs', bytes: payload(1, 1000), records: 1, priority: 0 });
    spill.append({ signal: 'logs', bytes: payload(2, 1000), records: 1, priority: 0 });
    let release!: () => void;
    const replay = spill.replay(async (b) => {
      if (idOf(b.bytes) === 1) await new Promise<void>((r) => (release = r));
      return 'ok';
    }, { maxBatches: 1 });
    await until(() => release !== undefined);
    spill.append({ signal: 'logs', bytes: payload(3, 1000), records: 1, priority: 0 }); // sheds 2, not 1 (being sent)
    release();
    expect((await replay).sentBatches).toBe(1);
    expect((await drain(spill)).ids).toEqual([3]);
    expect(spill.stats().dropped.spill_full.batches).toBe(1);
    expectBalanced(spill.stats());
  });

  it('flushSync() while asynchronous writes are in flight writes them again in place: a successor finds each batch once', async () => {
    const dir = tempDir();
    const a = newSpill(dir, { segmentBytes: 16 * 1024 });
    await a.open();
    for (let i = 0; i < 50; i++) a.append({ signal: 'logs', bytes: payload(i, 1000), records: 1 });
    a.flush();
    for (let i = 50; i < 60; i++) a.append({ signal: 'logs', bytes: payload(i, 1000), records: 1 });
    a.flushSync();
    expect(a.stats().written.batches).toBe(60);
    await a.close();
    markHoldersDead(dir, 'svc');
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(b.stats().dropped.corrupt.batches).toBe(0);
  });
});

describe('DurableSpill restart and corruption', () => {
  /** A spill over `dir` that wrote `n` batches (ids 0..n-1) and was left behind by a dead process. */
  async function leftBehind(dir: string, n: number, size = 200, opts = {}): Promise<void> {
    const a = newSpill(dir, opts);
    await a.open();
    for (let i = 0; i < n; i++) a.append({ signal: 'logs', bytes: payload(i, size), records: 100 + i });
    a.flushSync();
    await a.close();
    markHoldersDead(dir, 'svc');
  }

  it('removes a half-made directory left by a dead process', async () => {
    const dir = tempDir();
    const half = join(dir, 'svc', `.${deadPid()}-123-0.tmp`);
    mkdirSync(half, { recursive: true });
    writeFileSync(join(half, 'lock'), '{');
    const spill = newSpill(dir);
    await spill.open();
    expect(existsSync(half)).toBe(false);
  });

  it('a successor does not replay what was already sent', async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    for (let i = 0; i < 10; i++) a.append({ signal: 'logs', bytes: payload(i), records: 1 });
    a.flushSync();
    expect((await a.replay(async () => 'ok', { maxBatches: 4 })).sentBatches).toBe(4);
    await a.close();
    markHoldersDead(dir, 'svc');

    const b = newSpill(dir);
    await b.open();
    expect(b.stats().adopted.batches).toBe(6);
    expect((await drain(b)).ids).toEqual([4, 5, 6, 7, 8, 9]);
    expectBalanced(b.stats());
    // The adopted directory is removed once replayed.
    await until(() => processDirs(dir, 'svc').length === 1);
    await until(() => segmentFiles(dir).length === 0);
  });

  it('a successor of a successor gets both generations, oldest first (adopted directories nest)', async () => {
    const dir = tempDir();
    const first = newSpill(dir);
    await first.open();
    for (let i = 0; i < 3; i++) first.append({ signal: 'logs', bytes: payload(i), records: 1 });
    first.flushSync();
    await first.close();
    markHoldersDead(dir, 'svc');
    const second = newSpill(dir);
    await second.open();
    expect(second.stats().adopted.batches).toBe(3);
    for (let i = 3; i < 5; i++) second.append({ signal: 'logs', bytes: payload(i), records: 1 });
    await second.close(); // dies before replaying anything
    markHoldersDead(dir, 'svc');
    const third = newSpill(dir);
    await third.open();
    expect(third.stats().adopted.batches).toBe(5);
    expect((await drain(third)).ids).toEqual([0, 1, 2, 3, 4]);
    await third.close();
    expect(processDirs(dir, 'svc')).toEqual([]);
  });

  it('a dead process\'s segment whose batches were all sent (but not yet deleted) is removed without taking the next ones with it', async () => {
    const dir = tempDir();
    await leftBehind(dir, 6, 1000, { segmentBytes: 4096 }); // three 1,032-byte entries per segment
    const segs = segmentFiles(dir);
    expect(segs.length).toBe(2);
    // The first segment's batches were sent, and the process died before deleting it.
    const fd = openSync(segs[0], 'r+');
    for (let i = 0; i < 3; i++) writeSync(fd, Buffer.from('A'), 0, 1, i * (HEADER + 1000) + 6);
    closeSync(fd);
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([3, 4, 5]);
    await until(() => segmentFiles(dir).length === 0);
  });

  it('skips and counts a torn tail (file cut inside the last payload)', async () => {
    const dir = tempDir();
    await leftBehind(dir, 5);
    const [seg] = segmentFiles(dir);
    truncateSync(seg, statSync(seg).size - 50);
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([0, 1, 2, 3]);
    const s = b.stats();
    expect(s.dropped.corrupt).toMatchObject({ batches: 1, records: 104 });
    expectBalanced(s);
  });

  it('skips and counts a tail cut inside a header', async () => {
    const dir = tempDir();
    await leftBehind(dir, 3);
    const [seg] = segmentFiles(dir);
    truncateSync(seg, 2 * (HEADER + 200) + 10);
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([0, 1]);
    expect(b.stats().dropped.corrupt).toMatchObject({ batches: 1, records: 0 });
    expectBalanced(b.stats());
  });

  it('skips and counts a corrupt payload and a corrupt header in the middle, and replays the rest', async () => {
    const dir = tempDir();
    await leftBehind(dir, 8);
    const [seg] = segmentFiles(dir);
    const fd = openSync(seg, 'r+');
    const entry = HEADER + 200;
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, 2 * entry + HEADER + 100); // payload of batch 2
    writeSync(fd, Buffer.from([0xff]), 0, 1, 5 * entry + 8); // records field of batch 5's header
    closeSync(fd);
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([0, 1, 3, 4, 6, 7]);
    const s = b.stats();
    // Batch 2's header was whole (its 102 records are known); batch 5's was not.
    expect(s.dropped.corrupt).toMatchObject({ batches: 2, records: 102 });
    expectBalanced(s);
  });

  it('marks sent batches in place, so a crash between sends duplicates nothing already marked', async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    for (let i = 0; i < 3; i++) a.append({ signal: 'logs', bytes: payload(i), records: 1 });
    a.flushSync();
    await a.replay(async () => 'ok', { maxBatches: 1 });
    await until(() => {
      const [seg] = segmentFiles(dir);
      const fd = openSync(seg, 'r');
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, 6);
      closeSync(fd);
      return b[0] === 0x41; // 'A'
    });
  });
});

describe('DurableSpill bounds', () => {
  it('sheds the lowest priority, oldest first, to stay under maxBytes, and counts it as spill_full', async () => {
    const entry = HEADER + 1000;
    const drops: Array<[SpillDropReason, number]> = [];
    const spill = newSpill(tempDir(), { maxBytes: 6 * entry, onDrop: (r, _s, n) => drops.push([r, n]) });
    await spill.open();
    const add = (id: number, priority: number) => spill.append({ signal: 'logs', bytes: payload(id, 1000), records: id, priority });
    add(1, 2);
    add(2, 0);
    add(3, 1);
    add(4, 0);
    add(5, 3);
    add(6, 1);
    spill.flushSync();
    add(7, 1); // sheds 2 (priority 0, oldest)
    add(8, 2); // sheds 4
    add(9, 0); // lower than everything held: itself
    add(10, 1); // sheds 3 (priority 1, oldest)
    expect(drops).toEqual([
      ['spill_full', 2],
      ['spill_full', 4],
      ['spill_full', 9],
      ['spill_full', 3],
    ]);
    expect(spill.stats().pending.bytes).toBeLessThanOrEqual(6 * entry);
    expect((await drain(spill)).ids).toEqual([1, 5, 6, 7, 8, 10]);
    const s = spill.stats();
    expect(s.dropped.spill_full).toMatchObject({ batches: 4, records: 2 + 4 + 9 + 3 });
    expectBalanced(s);
  });

  it('drops a batch larger than maxBytes at once', async () => {
    const spill = newSpill(tempDir(), { maxBytes: 2048 });
    await spill.open();
    expect(spill.append({ signal: 'logs', bytes: payload(1, 4096), records: 7 })).toBe(true);
    expect(spill.stats().dropped.spill_full).toMatchObject({ batches: 1, records: 7 });
    expect(spill.stats().pending.batches).toBe(0);
  });

  it('adopted batches count against maxBytes', async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    for (let i = 0; i < 10; i++) a.append({ signal: 'logs', bytes: payload(i, 1000), records: 1, priority: i % 2 });
    a.flushSync();
    await a.close();
    markHoldersDead(dir, 'svc');
    const b = newSpill(dir, { maxBytes: 4 * (HEADER + 1000) });
    await b.open();
    // Priority 0 goes first (ids 0,2,4,6,8), then the oldest priority 1 (id 1).
    expect((await drain(b)).ids).toEqual([3, 5, 7, 9]);
    expect(b.stats().dropped.spill_full.batches).toBe(6);
    expectBalanced(b.stats());
  });

  it('drops batches older than maxAgeMillis as expired', async () => {
    const dir = tempDir();
    const spill = newSpill(dir, { maxAgeMillis: 400 });
    await spill.open();
    spill.append({ signal: 'logs', bytes: payload(1), records: 3 });
    spill.append({ signal: 'logs', bytes: payload(2), records: 4 });
    spill.flushSync();
    await new Promise((r) => setTimeout(r, 450));
    spill.append({ signal: 'logs', bytes: payload(3), records: 5 });
    expect((await drain(spill)).ids).toEqual([3]);
    expect(spill.stats().dropped.expired).toMatchObject({ batches: 2, records: 7 });
    expectBalanced(spill.stats());
  });

  it('expires adopted batches too', async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    a.append({ signal: 'logs', bytes: payload(1), records: 3 });
    a.flushSync();
    await a.close();
    markHoldersDead(dir, 'svc');
    await new Promise((r) => setTimeout(r, 120));
    const b = newSpill(dir, { maxAgeMillis: 100 });
    await b.open();
    expect((await drain(b)).ids).toEqual([]);
    expect(b.stats().dropped.expired).toMatchObject({ batches: 1, records: 3 });
  });
});

describe('DurableSpill disk errors', () => {
  it('a directory under a regular file (ENOTDIR): open resolves, appends are refused, nothing throws', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'file'), 'x');
    const spill = newSpill(join(base, 'file', 'spill'));
    await expect(spill.open()).resolves.toBeUndefined();
    expect(spill.append({ signal: 'logs', bytes: payload(1), records: 1 })).toBe(false);
    expect(() => spill.flushSync()).not.toThrow();
    const s = spill.stats();
    expect(s.available).toBe(false);
    expect(s.diskErrors).toBeGreaterThan(0);
    expect(s.appended.batches).toBe(0);
    await expect(spill.close()).resolves.toBeUndefined();
  });

  it('a directory under /proc (where recursive mkdir would never return): open resolves unavailable', async () => {
    const spill = newSpill('/proc/self/spill-here');
    await spill.open();
    expect(spill.stats().available).toBe(false);
    expect(spill.append({ signal: 'logs', bytes: payload(1), records: 1 })).toBe(false);
  });

  it('own directory replaced by a file: buffered batches count as disk_error, later appends are refused', async () => {
    const dir = tempDir();
    const drops: SpillDropReason[] = [];
    const spill = newSpill(dir, { segmentBytes: 1024, onDrop: (r) => drops.push(r) });
    await spill.open();
    const [own] = processDirs(dir, 'svc');
    rmSync(join(dir, 'svc', own), { recursive: true });
    writeFileSync(join(dir, 'svc', own), 'not a directory');
    spill.append({ signal: 'logs', bytes: payload(1, 100), records: 5 });
    spill.append({ signal: 'logs', bytes: payload(2, 100), records: 6 });
    expect(() => spill.flushSync()).not.toThrow();
    expect(drops).toEqual(['disk_error', 'disk_error']);
    const s = spill.stats();
    expect(s.dropped.disk_error).toMatchObject({ batches: 2, records: 11 });
    expect(s.available).toBe(false);
    expect(spill.append({ signal: 'logs', bytes: payload(3), records: 1 })).toBe(false);
    expectBalanced(s);
  });

  it('own directory removed: the next segment makes it again (lock included) and goes on', async () => {
    const dir = tempDir();
    const spill = newSpill(dir, { segmentBytes: 1024 });
    await spill.open();
    const [own] = processDirs(dir, 'svc');
    rmSync(join(dir, 'svc', own), { recursive: true });
    spill.append({ signal: 'logs', bytes: payload(1, 100), records: 1 });
    spill.flushSync();
    expect(existsSync(join(dir, 'svc', own, 'lock'))).toBe(true);
    expect(segmentFiles(dir).length).toBe(1);
    expect((await drain(spill)).ids).toEqual([1]);
    expect(spill.stats().diskErrors).toBe(0);
  });

  it('own directory removed while a segment is open: the next tick notices, the next batch makes it again, nothing is lost', async () => {
    const dir = tempDir();
    const spill = newSpill(dir, { flushIntervalMillis: 10 });
    await spill.open();
    spill.append({ signal: 'logs', bytes: payload(1, 100), records: 1 });
    spill.flushSync();
    const [own] = processDirs(dir, 'svc');
    rmSync(join(dir, 'svc', own), { recursive: true });
    await new Promise((r) => setTimeout(r, 60));
    spill.append({ signal: 'logs', bytes: payload(2, 100), records: 1 });
    spill.flushSync();
    expect(existsSync(join(dir, 'svc', own, 'lock'))).toBe(true);
    expect(segmentFiles(dir).length).toBe(1);
    // Batch 1 is read back through the open file, batch 2 from the new segment.
    expect((await drain(spill)).ids).toEqual([1, 2]);
  });
});

describe('DurableSpill possible duplicates (a send whose outcome is unknown)', () => {
  /** The state byte of entry `index` (batches of equal size `size`) in the only segment under `dir`. */
  function stateOnDisk(dir: string, index: number, size = 64): number {
    const [seg] = segmentFiles(dir);
    const fd = openSync(seg, 'r');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, index * (HEADER + size) + 6);
    closeSync(fd);
    return b[0];
  }
  const T = 0x54;
  const A = 0x41;

  /** A spill of `n` batches (ids 0..n-1, records 10+id) on disk whose send of the first hangs: the process "dies" there. */
  async function killedWhileSending(dir: string, n: number, append: (s: DurableSpill) => void = () => {}): Promise<number[]> {
    const a = newSpill(dir);
    await a.open();
    for (let i = 0; i < n; i++) a.append({ signal: 'logs', bytes: payload(i), records: 10 + i });
    a.flushSync();
    append(a);
    const seen: number[] = [];
    let sending!: () => void;
    const started = new Promise<void>((r) => (sending = r));
    void a.replay(async (b) => {
      seen.push(stateOnDisk(dir, idOf(b.bytes)));
      sending();
      return new Promise<never>(() => {}); // the collector's answer never comes: the process is killed first
    });
    await started;
    a.flushSync();
    await a.close();
    markHoldersDead(dir, 'svc');
    return seen;
  }

  it("marks a batch 'tried' on disk before its send starts; a successor counts it as a possible duplicate, and only it", async () => {
    const dir = tempDir();
    expect(await killedWhileSending(dir, 3)).toEqual([T]);
    const b = newSpill(dir);
    await b.open();
    const { ids, batches } = await drain(b);
    expect(ids).toEqual([0, 1, 2]);
    expect(batches.map((x) => x.uncertain)).toEqual([true, false, false]);
    const s = b.stats();
    expect(s.possibleDuplicates).toEqual({ batches: 1, records: 10, bytes: HEADER + 64 });
    expect(s.replayed.records).toBe(10 + 11 + 12);
    expectBalanced(s);
  });

  it("a delivered batch's 'A' mark replaces 'T': a successor does not count it", async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    for (let i = 0; i < 3; i++) a.append({ signal: 'logs', bytes: payload(i), records: 1 });
    a.flushSync();
    await a.replay(async () => 'ok', { maxBatches: 1 });
    await until(() => stateOnDisk(dir, 0) === A);
    expect(a.stats().possibleDuplicates.batches).toBe(0);
    await a.close();
    markHoldersDead(dir, 'svc');
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([1, 2]);
    expect(b.stats().possibleDuplicates.batches).toBe(0);
  });

  it("a batch appended uncertain (in flight at exit) is written 'tried'; whoever delivers it counts it", async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    a.append({ signal: 'logs', bytes: payload(0), records: 7 });
    a.append({ signal: 'logs', bytes: payload(1), records: 5, uncertain: true });
    a.flushSync();
    expect([stateOnDisk(dir, 0), stateOnDisk(dir, 1)]).toEqual([0, T]);
    await a.close();
    markHoldersDead(dir, 'svc');
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).batches.map((x) => x.uncertain)).toEqual([false, true]);
    expect(b.stats().possibleDuplicates).toMatchObject({ batches: 1, records: 5 });

    // the same process delivering it counts it too
    const c = newSpill(tempDir());
    await c.open();
    c.append({ signal: 'logs', bytes: payload(2), records: 3, uncertain: true });
    expect((await drain(c)).batches[0].uncertain).toBe(true);
    expect(c.stats().possibleDuplicates).toMatchObject({ batches: 1, records: 3 });
  });

  it("a replay answered 'unknown' (no answer) counts the batch when a later replay delivers it; 'retry' (refused) does not", async () => {
    const dir = tempDir();
    const spill = newSpill(dir);
    await spill.open();
    for (let i = 0; i < 2; i++) spill.append({ signal: 'logs', bytes: payload(i), records: 4 });
    spill.flushSync();
    const during: number[] = [];
    expect((await spill.replay(async () => (during.push(stateOnDisk(dir, 0)), 'retry'))).stopped).toBe('retry');
    // 'T' while the send was out, pending again once it was refused
    expect([during, stateOnDisk(dir, 0)]).toEqual([[T], 0]);
    const first = await drain(spill).then((d) => d.batches);
    expect(first.map((b) => b.uncertain)).toEqual([false, false]);
    expect(spill.stats().possibleDuplicates.batches).toBe(0);

    for (let i = 2; i < 4; i++) spill.append({ signal: 'logs', bytes: payload(i), records: 4 });
    spill.flushSync();
    expect((await spill.replay(async () => 'unknown')).stopped).toBe('retry');
    expect(stateOnDisk(dir, 2)).toBe(T);
    const { ids, batches } = await drain(spill);
    expect(ids).toEqual([2, 3]);
    expect(batches.map((b) => b.uncertain)).toEqual([true, false]);
    expect(spill.stats().possibleDuplicates).toMatchObject({ batches: 1, records: 4 });
    expectBalanced(spill.stats());
  });

  it("a batch sent from memory before its write carries 'tried' in the header written later", async () => {
    const dir = tempDir();
    const a = newSpill(dir, { flushIntervalMillis: 60_000 });
    await a.open();
    a.append({ signal: 'logs', bytes: payload(0), records: 1 });
    let sending!: () => void;
    const started = new Promise<void>((r) => (sending = r));
    void a.replay(async () => {
      sending();
      return new Promise<never>(() => {});
    });
    await started;
    expect(a.stats().written.batches).toBe(0);
    a.flushSync();
    expect(stateOnDisk(dir, 0)).toBe(T);
    await a.close();
  });

  it("a batch whose write is in flight is marked once the write lands, before its send starts", async () => {
    const dir = tempDir();
    const a = newSpill(dir, { flushIntervalMillis: 60_000 });
    await a.open();
    a.append({ signal: 'logs', bytes: payload(0), records: 1 });
    a.flush(); // asynchronous write under way
    const seen: number[] = [];
    await a.replay(async () => {
      seen.push(stateOnDisk(dir, 0));
      return 'ok';
    });
    expect(seen).toEqual([T]);
    expect(a.stats().replayed.batches).toBe(1);
  });

  it("reads a segment of entries in every state (pending, 'tried', sent, dropped, and a state byte it does not know as pending)", async () => {
    const dir = tempDir();
    const a = newSpill(dir);
    await a.open();
    for (let i = 0; i < 5; i++) a.append({ signal: 'logs', bytes: payload(i), records: 1 });
    a.flushSync();
    await a.close();
    const [seg] = segmentFiles(dir);
    const fd = openSync(seg, 'r+');
    [0, T, A, 0x44, 0x7a].forEach((state, i) => writeSync(fd, Uint8Array.of(state), 0, 1, i * (HEADER + 64) + 6));
    closeSync(fd);
    markHoldersDead(dir, 'svc');
    const b = newSpill(dir);
    await b.open();
    const { ids, batches } = await drain(b);
    expect(ids).toEqual([0, 1, 4]);
    expect(batches.map((x) => x.uncertain)).toEqual([false, true, false]);
    expect(b.stats().dropped.corrupt.batches).toBe(0);
  });
});
