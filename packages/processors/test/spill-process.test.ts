import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DurableSpill } from '../src/spill';
import { DIST_SPILL, drain, expectBalanced, processDirs, segmentFiles, startChild, tempDir, until, waitExit } from './spill-helpers';

// Real processes: a child that spills and is SIGKILLed, a successor that adopts its directory.
/** Child script lines: three batches (ids 0-2, 100-102 records) spilled at once, then the process stays up. */
const THREE_BATCHES_THEN_WAIT = `
  for (let i = 0; i < 3; i++) {
    const b = Buffer.alloc(300, i); b.writeUInt32LE(i, 0);
    spill.appendSync({ signal: 'logs', bytes: b, records: 100 + i });
  }
  setInterval(() => {}, 1000);
`;

describe('DurableSpill across processes', () => {
  it('a successor adopts and replays everything a SIGKILLed process wrote with appendSync', async () => {
    const dir = tempDir();
    const { child, lines } = await startChild(
      dir,
      'gateway',
      `
        for (let i = 0; i < 500; i++) {
          const b = Buffer.alloc(300, i & 0xff); b.writeUInt32LE(i, 0);
          spill.appendSync({ signal: i % 2 ? 'traces' : 'logs', bytes: b, records: 512, priority: i % 5 });
        }
        console.log('pid ' + process.pid);
        console.log('ready');
        setInterval(() => {}, 1000);
      `,
    );
    child.kill('SIGKILL');
    await waitExit(child);
    expect(lines[0]).toBe(`pid ${child.pid}`);
    const [theirs] = processDirs(dir, 'gateway');
    expect(theirs.startsWith(`${child.pid}-`)).toBe(true);

    const spill = new DurableSpill({ dir, serviceName: 'gateway' });
    try {
      await spill.open();
      expect(spill.stats().adopted).toMatchObject({ batches: 500, records: 500 * 512 });
      const { ids, batches } = await drain(spill);
      expect(ids).toEqual(Array.from({ length: 500 }, (_, i) => i));
      expect(batches[1]).toMatchObject({ signal: 'traces', records: 512, priority: 1 });
      expectBalanced(spill.stats());
      // Their directory was moved into ours, then removed once replayed.
      await until(() => processDirs(dir, 'gateway').length === 1 && segmentFiles(dir).length === 0);
      expect(processDirs(dir, 'gateway')[0].startsWith(`${process.pid}-`)).toBe(true);
    } finally {
      await spill.close();
    }
    expect(processDirs(dir, 'gateway')).toEqual([]);
  });

  it("SIGKILL between a replay's send and its answer: the successor delivers that batch and counts it as a possible duplicate, the rest not", async () => {
    const dir = tempDir();
    const { child } = await startChild(
      dir,
      'gateway',
      `
        ${THREE_BATCHES_THEN_WAIT}
        // the request is out, the collector's answer never comes back before the kill
        spill.replay(async () => { console.log('ready'); return new Promise(() => {}); });
      `,
    );
    child.kill('SIGKILL');
    await waitExit(child);
    const spill = new DurableSpill({ dir, serviceName: 'gateway' });
    try {
      await spill.open();
      const { ids, batches } = await drain(spill);
      expect(ids).toEqual([0, 1, 2]);
      expect(batches.map((b) => b.uncertain)).toEqual([true, false, false]);
      expect(spill.stats().possibleDuplicates).toMatchObject({ batches: 1, records: 100 });
      expectBalanced(spill.stats());
    } finally {
      await spill.close();
    }
  });

  it('SIGKILL during an outage (the replay probe refused): the successor counts no possible duplicate', async () => {
    const dir = tempDir();
    const { child } = await startChild(
      dir,
      'gateway',
      `
        ${THREE_BATCHES_THEN_WAIT}
        spill.replay(async () => 'retry').then((r) => console.log(r.stopped === 'retry' ? 'ready' : 'unexpected ' + r.stopped));
      `,
    );
    child.kill('SIGKILL');
    await waitExit(child);
    const spill = new DurableSpill({ dir, serviceName: 'gateway' });
    try {
      await spill.open();
      const { ids, batches } = await drain(spill);
      expect(ids).toEqual([0, 1, 2]);
      expect(batches.every((b) => !b.uncertain)).toBe(true);
      expect(spill.stats().possibleDuplicates.batches).toBe(0);
    } finally {
      await spill.close();
    }
  });

  it("a signal right after a delivery: flushSync writes the 'A' mark still waiting in the thread pool, so a successor sends it no more", () => {
    const dir = tempDir();
    const script = `
      const { pbkdf2 } = require('node:crypto');
      const { DurableSpill } = require(${JSON.stringify(DIST_SPILL)});
      const spill = new DurableSpill({ dir: ${JSON.stringify(dir)}, serviceName: 'gateway' });
      spill.open().then(async () => {
        for (let i = 0; i < 2; i++) {
          const b = Buffer.alloc(300, i); b.writeUInt32LE(i, 0);
          spill.appendSync({ signal: 'logs', bytes: b, records: 10 });
        }
        // the 2xx arrives while the one thread of the pool is busy: the 'A' write waits behind it
        await spill.replay(async () => { pbkdf2('x', 'y', 2e7, 32, 'sha256', () => {}); return 'ok'; }, { maxBatches: 1 });
        spill.flushSync();
        // as the preload does on SIGTERM: flushSync, then the signal again with its default action
        // (process.exit() would let the pool finish its queue; a signal does not)
        process.kill(process.pid, 'SIGTERM');
      });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8', timeout: 30_000 });
    expect(r.signal).toBe('SIGTERM');
    const [seg] = segmentFiles(dir);
    expect(readFileSync(seg)[6]).toBe(0x41); // 'A'
  });

  it('SIGKILL while appending without appendSync: what was appended a flush interval (plus margin) before the kill survives, with no hole', async () => {
    const dir = tempDir();
    const { child, lines } = await startChild(
      dir,
      'gateway',
      `
        let i = 0;
        setInterval(() => {
          const b = Buffer.alloc(2000, i & 0xff); b.writeUInt32LE(i, 0);
          spill.append({ signal: 'logs', bytes: b, records: 512 });
          console.log('appended ' + i++);
        }, 20);
        console.log('ready');
      `,
      { flushIntervalMillis: 200 },
    );
    const seen: Array<[number, number]> = []; // [id, when the parent saw it]
    let read = 0;
    const poll = setInterval(() => {
      for (; read < lines.length; read++) if (lines[read].startsWith('appended ')) seen.push([Number(lines[read].slice(9)), Date.now()]);
    }, 1);
    await new Promise((r) => setTimeout(r, 2500));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await waitExit(child);
    clearInterval(poll);
    const spill = new DurableSpill({ dir, serviceName: 'gateway' });
    try {
      await spill.open();
      const { ids } = await drain(spill);
      const mustHave = seen.filter(([, at]) => at <= killedAt - 1000).map(([id]) => id);
      expect(mustHave.length).toBeGreaterThan(10);
      expect(ids.slice(0, mustHave.length)).toEqual(mustHave);
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i)); // a prefix: nothing missing in between
      expect(spill.stats().dropped.corrupt.batches).toBe(0);
    } finally {
      await spill.close();
    }
  });

  it('live processes of one service never adopt one another; the dead one is adopted by exactly one', async () => {
    const dir = tempDir();
    const body = (tag: number) => `
      for (let i = 0; i < 20; i++) { const b = Buffer.alloc(64); b.writeUInt32LE(${tag} + i, 0); spill.appendSync({ signal: 'logs', bytes: b, records: 1 }); }
      console.log('ready');
      process.stdin.resume();
      setInterval(() => console.log('stats ' + JSON.stringify(spill.stats())), 50);
    `;
    const a = await startChild(dir, 'serve', body(1000));
    const b = await startChild(dir, 'serve', body(2000));
    try {
      // Each live process keeps its own directory and adopted nothing.
      await until(() => a.lines.some((l) => l.startsWith('stats')) && b.lines.some((l) => l.startsWith('stats')));
      for (const c of [a, b]) {
        const s = JSON.parse(c.lines.filter((l) => l.startsWith('stats')).pop()!.slice(6));
        expect(s.adopted.batches).toBe(0);
        expect(s.pending.batches).toBe(20);
      }
      expect(processDirs(dir, 'serve').length).toBe(2);

      // Neither does a third, here: both holders are alive.
      const c = new DurableSpill({ dir, serviceName: 'serve' });
      await c.open();
      expect(c.stats().adopted.batches).toBe(0);
      expect(processDirs(dir, 'serve').length).toBe(3);

      // Once a is dead, two successors race for its directory: one gets all of it, the other none.
      a.child.kill('SIGKILL');
      await waitExit(a.child);
      const d = new DurableSpill({ dir, serviceName: 'serve' });
      const e = new DurableSpill({ dir, serviceName: 'serve' });
      await Promise.all([d.open(), e.open()]);
      const adopted = [d.stats().adopted.batches, e.stats().adopted.batches].sort();
      expect(adopted).toEqual([0, 20]);
      const winner = d.stats().adopted.batches ? d : e;
      expect((await drain(winner)).ids).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
      expect((await drain(c)).ids).toEqual([]); // b's batches stay with b
      await Promise.all([c.close(), d.close(), e.close()]);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
      await Promise.all([waitExit(a.child), waitExit(b.child)]);
    }
    // Only b's directory is left, with its 20 batches for whoever comes next.
    const left = processDirs(dir, 'serve');
    expect(left.length).toBe(1);
    expect(left[0].startsWith(`${b.child.pid}-`)).toBe(true);
  });

  it('a lock whose pid now belongs to another process (reused pid, other start time) is taken as dead', async () => {
    const dir = tempDir();
    const a = new DurableSpill({ dir, serviceName: 'svc' });
    await a.open();
    a.appendSync({ signal: 'logs', bytes: Buffer.alloc(16, 7), records: 3 });
    await a.close();
    // Our own pid, but a start time that is not ours: what a reused pid looks like.
    const { readFileSync, writeFileSync } = await import('node:fs');
    const [name] = processDirs(dir, 'svc');
    const lockFile = join(dir, 'svc', name, 'lock');
    const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
    expect(lock).toMatchObject({ pid: process.pid, startSource: 'proc' });
    writeFileSync(lockFile, JSON.stringify({ ...lock, start: String(Number(lock.start) - 1) }));
    const b = new DurableSpill({ dir, serviceName: 'svc' });
    await b.open();
    expect(b.stats().adopted.batches).toBe(1);
    expect((await drain(b)).batches.map((x) => x.records)).toEqual([3]);
    await b.close();
  });

  it('a write cut short by the file size limit (EFBIG): whole entries kept, the rest counted as disk_error, no torn tail left', async () => {
    const dir = tempDir();
    const script = `
      const { DurableSpill } = require(${JSON.stringify(DIST_SPILL)});
      const spill = new DurableSpill({ dir: ${JSON.stringify(dir)}, serviceName: 'app' });
      spill.open().then(async () => {
        for (let i = 0; i < 10; i++) { const b = require('node:crypto').randomBytes(10000); b.writeUInt32LE(i, 0); spill.append({ signal: 'logs', bytes: b, records: 100 }); }
        spill.flush();
        while (spill.stats().written.batches + spill.stats().dropped.disk_error.batches < 10) await new Promise((r) => setTimeout(r, 5));
        const refused = !spill.append({ signal: 'logs', bytes: Buffer.alloc(8), records: 1 });
        console.log(JSON.stringify({ ...spill.stats(), refused }));
        process.exit(0);
      });
    `;
    // ulimit -f counts 1024-byte blocks: 64 KiB holds six 10,032-byte entries (noise: stored uncompressed).
    const r = spawnSync('bash', ['-c', 'ulimit -f 64; exec "$0" -e "$1"', process.execPath, script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout.trim());
    expect(s.written.batches).toBe(6);
    expect(s.dropped.disk_error).toMatchObject({ batches: 4, records: 400 });
    expect(s.diskErrors).toBe(1);
    expect(s.available).toBe(false);
    expect(s.refused).toBe(true);
    const { statSync } = await import('node:fs');
    const [seg] = segmentFiles(dir);
    expect(statSync(seg).size).toBe(6 * 10032);
    const successor = new DurableSpill({ dir, serviceName: 'app' });
    await successor.open();
    expect((await drain(successor)).ids).toEqual([0, 1, 2, 3, 4, 5]);
    expect(successor.stats().dropped.corrupt.batches).toBe(0);
    await successor.close();
  });

  it('a process with a spill open and batches buffered exits by itself (the flush timer is unref\'d); flushSync at exit keeps them', async () => {
    const dir = tempDir();
    const script = `
      const { DurableSpill } = require(${JSON.stringify(DIST_SPILL)});
      const spill = new DurableSpill({ dir: ${JSON.stringify(dir)}, serviceName: 'app', flushIntervalMillis: 60000 });
      spill.open();
      for (let i = 0; i < 3; i++) { const b = Buffer.alloc(32); b.writeUInt32LE(i, 0); spill.append({ signal: 'logs', bytes: b, records: 2 }); }
      process.on('exit', () => spill.flushSync());
    `;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000); // not held by the 60 s timer
    const spill = new DurableSpill({ dir, serviceName: 'app' });
    await spill.open();
    expect((await drain(spill)).ids).toEqual([0, 1, 2]);
    await spill.close();
  });
});
