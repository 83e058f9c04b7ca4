/**
 * Ack after the write: the collector is SIGKILLed while the preload sends it 4,000 log records/s, and
 * restarted on the same ports and data directory. Every record the app emitted must be in the files:
 * what the collector acknowledged was already written (a SIGKILL cannot take it back), what it had
 * not acknowledged the sender retries. A record can at most appear twice (written, killed before
 * the answer, retried); none may be missing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCollector, type RunningCollector } from '../helpers/collector';
import { childEnv, node24, OTEL_SETUP_DIR, sleep, start, waitFor, type Started } from '../helpers/process';
import { seqsOnDisk, tally } from '../helpers/records';

const RATE = 4000;
const DURATION_MS = 12000;
let col: RunningCollector | undefined;
let sender: Started | undefined;
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-collector-kill-'));

afterAll(async () => {
  await sender?.stop('SIGKILL');
  await col?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
  fs.rmSync(outDir, { recursive: true, force: true });
});

test('SIGKILL of the collector at 4k records/s and a restart lose no record', async () => {
  col = await startCollector({ env: { LOG_ROTATION_SIZE: '1', LOG_MAX_FILES: '0' } });
  const run = `kill-${Date.now()}`;
  sender = start(node24(), ['-r', OTEL_SETUP_DIR, path.join(__dirname, 'log-sender.js')], {
    env: childEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: col.otlpHttpEndpoint,
      OTEL_SERVICE_NAME: 'collector-kill-test',
      RATE: String(RATE),
      DURATION_MS: String(DURATION_MS),
      RUN: run,
      LOG_LEVEL: 'info',
      CCR_OTEL_ADAPTIVE: 'false',
    }),
    outputFile: path.join(outDir, 'sender.out'),
  });

  // Let it run, make sure records are arriving, then kill the collector mid-stream.
  await waitFor('records from the sender on disk', () => seqsOnDisk(col!.dataDir, run).size > RATE, { timeoutMs: 20000, proc: sender });
  const before = seqsOnDisk(col!.dataDir, run).size;
  await col.kill();
  await sleep(1000); // the sender meets a closed port for a while
  await col.restart();

  const exit = await sender.exited();
  const m = /\{"emitted":(\d+)\}/.exec(sender.output());
  if (!m) throw new Error(`the sender printed no count (exit ${JSON.stringify(exit)}):\n${sender.output().slice(-2000)}`);
  const emitted = Number(m[1]);
  expect(emitted).toBeGreaterThanOrEqual((RATE * DURATION_MS) / 1000 - 1);

  const counts = await waitFor('every emitted record on disk', () => {
    const c = seqsOnDisk(col!.dataDir, run);
    return c.size >= emitted ? c : undefined;
  }, { timeoutMs: 60000 }).catch(() => seqsOnDisk(col!.dataDir, run));
  const { missing, duplicates: duplicated } = tally(counts, emitted);
  console.log(
    `collector SIGKILLed at ${RATE} records/s after ${before} records on disk: ${emitted} emitted, ` +
      `${emitted - missing.length} on disk, ${missing.length} missing, ${duplicated} duplicates (retried after the kill)`,
  );
  expect({ missing: missing.length, first: missing.slice(0, 10) }).toEqual({ missing: 0, first: [] });
  expect(sender.output()).not.toMatch(/dropped \d+ logs records/);
});
