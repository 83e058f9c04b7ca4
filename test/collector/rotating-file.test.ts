/**
 * The run from issue 9, against the real ccr-otelcol with the shipped config: 1 MiB rotation,
 * 40,000 log records over OTLP/HTTP, 1 in 10 carrying a 20 KB body (requests of ~2 MiB, larger than
 * a file). The contrib file exporter lost 39,600 of them here; our rotating_file exporter must write
 * every record exactly once across the current file and the .gz backups, never a file over 1 MiB
 * unless one record alone fills it, with no error in the collector's log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { postOtlpJson, readJsonLines, signalFiles, startCollector, type RunningCollector } from '../helpers/collector';
import { attrValue, logRecordsOf, logsRequest } from '../helpers/otlp-json';

const RECORDS = 40_000;
const PER_REQUEST = 500; // the SDK's batch size is 512
const IN_FLIGHT = 4;
const BIG = 'B'.repeat(20 * 1024);
let col: RunningCollector | undefined;

afterAll(async () => {
  await col?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('1 MiB rotation, 40,000 records with 1 in 10 at 20 KB: every record exactly once, gzipped backups, no error', async () => {
  col = await startCollector({ env: { LOG_ROTATION_SIZE: '1', LOG_MAX_FILES: '0' } });
  const run = `rot-${Date.now()}`;
  let next = 0;
  const sender = async () => {
    while (next < RECORDS) {
      const from = next;
      next = Math.min(next + PER_REQUEST, RECORDS);
      const records = [];
      for (let seq = from; seq < next; seq++) {
        records.push({ seq, body: seq % 10 === 0 ? `${seq} ${BIG}` : `record ${seq} of ${run}` });
      }
      await postOtlpJson(col!.otlpHttpEndpoint, 'logs', logsRequest('rotation-20kb', records)); // throws on any non-2xx
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, sender));

  // Every request was answered after its write; the backups are gzipped in the background.
  const deadline = Date.now() + 60000;
  let files = signalFiles(col.dataDir, 'logs');
  while (files.rotated.some((f) => !f.endsWith('.gz'))) {
    if (Date.now() > deadline) throw new Error(`backups still uncompressed: ${files.rotated.filter((f) => !f.endsWith('.gz'))}`);
    await sleep(200);
    files = signalFiles(col.dataDir, 'logs');
  }
  const leftovers = fs.readdirSync(col.dataDir).filter((n) => n.endsWith('.tmp'));
  expect(leftovers).toEqual([]);

  const counts = new Map<number, number>();
  for (const r of logRecordsOf(readJsonLines(files.all))) {
    const seq = attrValue(r.attributes, 'seq') as number;
    counts.set(seq, (counts.get(seq) ?? 0) + 1);
  }
  const missing: number[] = [];
  const dup: number[] = [];
  for (let s = 0; s < RECORDS; s++) {
    if (!counts.has(s)) missing.push(s);
    else if (counts.get(s)! > 1) dup.push(s);
  }
  expect({ records: counts.size, missing: missing.slice(0, 10), duplicated: dup.slice(0, 10) }).toEqual({ records: RECORDS, missing: [], duplicated: [] });

  expect(files.rotated.length).toBeGreaterThanOrEqual(1);
  expect(files.rotated.every((f) => /\/logs-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}\.jsonl\.gz$/.test(f))).toBe(true);
  // No file (uncompressed) holds more than 1 MiB; requests were split at record boundaries.
  for (const f of files.all) {
    const lines = readJsonLines([f]);
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(JSON.stringify(l)) + 1, 0);
    if (bytes > 1024 * 1024) expect([path.basename(f), logRecordsOf(lines).length]).toEqual([path.basename(f), 1]);
  }
  const log = fs.readFileSync(col.outputFile, 'utf8');
  expect(log).not.toMatch(/\t(error|ERROR)\t|exceeds maximum file size/); // (warnings: no Jaeger in this test)
  console.log(
    `rotating_file: ${RECORDS} records (${RECORDS / 10} of 20 KB) in ${RECORDS / PER_REQUEST} requests -> ` +
      `${files.rotated.length} .gz backups + current file, every record once`,
  );
});
