import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import type { DurableSpill, SpilledBatch, SpillStats } from '../src/spill';

export const DIST_SPILL = join(__dirname, '..', 'dist', 'spill');

/** A fresh directory, removed after the test file. */
const made: string[] = [];
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spill-test-'));
  made.push(d);
  return d;
}
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/**
 * A payload that names batch `id` and has `size` bytes: noise that gzip cannot shrink, so that
 * the spill stores it as it is (see compressible() for one it compresses).
 */
export function payload(id: number, size = 64): Uint8Array {
  const b = Buffer.alloc(Math.max(size, 8));
  let x = (id * 2654435761 + 1) >>> 0 || 1;
  for (let i = 8; i < b.length; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  b.writeUInt32LE(id, 0);
  b.writeUInt32LE(size, 4);
  return b;
}

/** A payload that names batch `id`, `size` bytes of repeated text: the spill stores it gzip-compressed. */
export function compressible(id: number, size = 4096): Uint8Array {
  const b = Buffer.alloc(Math.max(size, 8), `record ${id} of run r1, attributes run and seq; `);
  b.writeUInt32LE(id, 0);
  b.writeUInt32LE(size, 4);
  return b;
}

export function idOf(bytes: Uint8Array): number {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32LE(0);
}

/** Replays everything, answering 'ok'; returns the ids in the order they came (batches hold their bytes gunzipped). */
export async function drain(spill: DurableSpill): Promise<{ ids: number[]; batches: SpilledBatch[] }> {
  const batches: SpilledBatch[] = [];
  const r = await spill.replay(async (b) => {
    batches.push({ ...b, bytes: b.gzip ? gunzipSync(b.bytes) : Uint8Array.from(b.bytes) });
    return 'ok';
  });
  expect(r.stopped).toBe('empty');
  return { ids: batches.map((b) => idOf(b.bytes)), batches };
}

/** Waits until `cond` holds (polling), or fails after `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** appended + adopted = replayed + pending + dropped, for batches and records. */
export function expectBalanced(s: SpillStats): void {
  const dropped = Object.values(s.dropped);
  const sum = (k: 'batches' | 'records') => s.replayed[k] + s.pending[k] + dropped.reduce((a, d) => a + d[k], 0);
  expect(sum('batches')).toBe(s.appended.batches + s.adopted.batches);
  expect(sum('records')).toBe(s.appended.records + s.adopted.records);
}

/** The process directories under `<root>/<service>`. */
export function processDirs(root: string, service: string): string[] {
  try {
    return readdirSync(join(root, service)).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

/** Files named segment-*.spill anywhere under `dir`. */
export function segmentFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.startsWith('segment-')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

/** A pid that no process has: one of a child that has exited. */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

/**
 * Makes the locks of every process directory of `service` name a dead process, as if the
 * process that wrote them had been killed (the real thing is tested with child processes).
 */
export function markHoldersDead(root: string, service: string): void {
  const pid = deadPid();
  for (const name of processDirs(root, service)) {
    const file = join(root, service, name, 'lock');
    const lock = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...lock, pid }));
  }
}

/**
 * A child process that runs `body` with `spill` (a DurableSpill over `root`, already opened)
 * and prints lines; resolves with the child once it printed `ready`.
 */
export function startChild(
  root: string,
  service: string,
  body: string,
  options: Record<string, number> = {},
): Promise<{ child: ChildProcess; lines: string[] }> {
  const script = `
    const { DurableSpill } = require(${JSON.stringify(DIST_SPILL)});
    const spill = new DurableSpill({ dir: ${JSON.stringify(root)}, serviceName: ${JSON.stringify(service)}, ...${JSON.stringify(options)} });
    spill.open().then(async () => { ${body} });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      lines.push(line);
      if (line === 'ready') resolve({ child, lines });
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready: ${lines.join('\n')}`)));
  });
}

export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}
