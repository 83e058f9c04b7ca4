/**
 * Rotation with the real collector: 1 MiB files, records sent over OTLP/HTTP until the size was passed
 * at least three times; every record is then present exactly once across current + rotated (gzipped)
 * files; more data makes the collector prune backups beyond LOG_MAX_FILES.
 */
import * as fs from 'node:fs';
import { readJsonLines, readSignalFile, signalFiles, startCollector, postOtlpJson, type RunningCollector } from '../helpers/collector';
import { attrValue, logRecordsOf, logsRequest } from '../helpers/otlp-json';

const MAX_FILES = 5;
const BATCH = 1000; // one request, one line (about 350 KB)
const PAD = 'x'.repeat(300);
let col: RunningCollector | undefined;

afterAll(async () => {
  await col?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function seqsOnDisk(): Map<number, number> {
  const counts = new Map<number, number>();
  for (const r of logRecordsOf(readJsonLines(signalFiles(col!.dataDir, 'logs').all))) {
    const s = attrValue(r.attributes, 'seq') as number;
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  return counts;
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

let nextSeq = 0;
async function sendBatch(): Promise<void> {
  const records = Array.from({ length: BATCH }, () => {
    const seq = nextSeq++;
    return { seq, body: `record ${seq} ${PAD}` };
  });
  await postOtlpJson(col!.otlpHttpEndpoint, 'logs', logsRequest('rotation-test', records));
}

test('logs rotate at 1 MiB, nothing is lost or duplicated, and old backups are pruned', async () => {
  col = await startCollector({ env: { LOG_ROTATION_SIZE: '1', LOG_MAX_FILES: String(MAX_FILES), LOG_MAX_DAYS: '7' } });
  expect((await fetch(col.healthUrl)).status).toBe(200);

  // Phase 1: pass the rotation size at least three times, but stay below MAX_FILES backups.
  const t0 = Date.now();
  while (signalFiles(col.dataDir, 'logs').rotated.length < 3) {
    if (Date.now() - t0 > 60000) throw new Error('no third rotation within 60 s');
    await sendBatch();
    // wait until this batch is on disk, so the loop stops right after the third rotation
    const last = nextSeq - 1;
    await waitFor(`record ${last} on disk`, () => seqsOnDisk().has(last));
  }
  const sentPhase1 = nextSeq;
  await waitFor('all phase-1 records on disk', () => seqsOnDisk().size >= sentPhase1 || undefined);
  await sleep(1500); // a late duplicate would show up now
  // backups are gzipped in the background
  const files1 = await waitFor('every backup gzipped', () => {
    const f = signalFiles(col!.dataDir, 'logs');
    return f.rotated.every((b) => b.endsWith('.jsonl.gz')) && f;
  });
  expect(files1.rotated.length).toBeGreaterThanOrEqual(3);
  expect(files1.rotated.length).toBeLessThanOrEqual(MAX_FILES);
  for (const f of files1.rotated) {
    const bytes = Buffer.byteLength(readSignalFile(f)!);
    expect(bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(bytes).toBeGreaterThan(256 * 1024);
    expect(fs.statSync(f).size).toBeLessThan(bytes / 4); // the padding compresses well
  }
  const counts = seqsOnDisk();
  expect(counts.size).toBe(sentPhase1);
  for (let s = 0; s < sentPhase1; s++) {
    if (counts.get(s) !== 1) throw new Error(`record seq=${s} found ${counts.get(s) ?? 0} times`);
  }
  const oldestBackup = files1.rotated[0];

  // Phase 2: keep going until well past MAX_FILES rotations; the oldest backups must be deleted.
  const rotatedNames = new Set(files1.rotated.map((f) => f.replace(/\.gz$/, ''))); // one name per backup, plain or gzipped
  const t1 = Date.now();
  while (rotatedNames.size < MAX_FILES + 3) {
    if (Date.now() - t1 > 90000) throw new Error('not enough rotations in phase 2 within 90 s');
    await sendBatch();
    for (const f of signalFiles(col.dataDir, 'logs').rotated) rotatedNames.add(f.replace(/\.gz$/, ''));
    if (nextSeq % 4000 === 0) await sleep(500);
  }
  const sentTotal = nextSeq;
  // pruning runs right after a rotation, in the background
  await waitFor(
    `backups pruned to ${MAX_FILES}`,
    () => signalFiles(col!.dataDir, 'logs').rotated.length <= MAX_FILES && !fs.existsSync(oldestBackup),
  );
  await sleep(2000);
  const files2 = signalFiles(col.dataDir, 'logs');
  expect(files2.rotated.length).toBeLessThanOrEqual(MAX_FILES);
  expect(files2.rotated.length).toBeGreaterThanOrEqual(MAX_FILES - 1);
  expect(fs.existsSync(oldestBackup)).toBe(false);
  // what is kept is the newest data: the last record sent is on disk, the first one is gone
  const after = seqsOnDisk();
  expect(after.get(sentTotal - 1)).toBe(1);
  expect(after.has(0)).toBe(false);
  for (const n of after.values()) expect(n).toBe(1);
});
