/**
 * The durable spill end to end: a real child process with the preload sends 2,000 log records/s to a
 * real ccr-otelcol (shipped config) that is down. (a) The collector is down for the first 20 s, then
 * started: every record arrives. (b) The app is SIGKILLed during the outage; the collector is started,
 * then a successor process of the same service: every record emitted up to 1 s before the kill
 * arrives (replayed by the successor from the dead process's spill directory). (c) Apps that end by
 * SIGTERM and by process.exit() during an outage, records still queued: a successor delivers them all.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCollector, tearDown, type RunningCollector } from '../helpers/collector';
import { childEnv, node24, OTEL_SETUP_DIR, sleep, start, waitFor, type Started } from '../helpers/process';
import { outputJsonLines, seqsOnDisk, tally } from '../helpers/records';

const RATE = 2000;
const SENDER = path.join(__dirname, 'spill-sender.js');
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-spill-e2e-'));
const collectors: RunningCollector[] = [];
const procs: Started[] = [];

afterAll(async () => {
  await tearDown(procs, collectors, [outDir]);
});

/** A collector that is down: started once (its ports and data directory fixed), then killed. */
async function downCollector(): Promise<RunningCollector> {
  const col = await startCollector();
  collectors.push(col);
  await col.kill();
  return col;
}

function sender(col: RunningCollector, name: string, env: Record<string, string>): Started {
  const p = start(node24(), ['-r', OTEL_SETUP_DIR, SENDER], {
    env: childEnv({
      OTEL_SETUP_DIR,
      OTEL_EXPORTER_OTLP_ENDPOINT: col.otlpHttpEndpoint,
      LOG_LEVEL: 'info',
      // every record must be kept: the level floor stays where it is configured (test (a) turns it on)
      CCR_OTEL_ADAPTIVE: 'false',
      ...env,
    }),
    outputFile: path.join(outDir, `${name}.out`),
  });
  procs.push(p);
  return p;
}

test('collector down for the first 20 s at 2k records/s, then started: every record arrives', async () => {
  const col = await downCollector();
  const run = `down-${Date.now()}`;
  const spillDir = path.join(outDir, 'spill-a');
  // the adaptive level on, as users run it: an outage must not raise the floor (no below_level drops)
  const app = sender(col, 'a', {
    OTEL_SERVICE_NAME: 'spill-e2e-a', CCR_OTEL_SPILL_DIR: spillDir, CCR_OTEL_ADAPTIVE: 'true', RATE: String(RATE), DURATION_MS: '28000', RUN: run,
  });
  await sleep(20_000);
  const during = outputJsonLines(app).filter((l) => l.seq !== undefined).pop();
  await col.restart();
  const upAt = Date.now();

  const exit = await app.exited();
  const end = outputJsonLines(app).find((l) => l.emitted !== undefined);
  if (!end) throw new Error(`the sender printed no count (exit ${JSON.stringify(exit)}):\n${app.output().slice(-2000)}`);
  const emitted: number = end.emitted;
  expect(emitted).toBe((RATE * 28000) / 1000);

  const counts = await waitFor('every emitted record on disk', () => {
    const c = seqsOnDisk(col.dataDir, run);
    return c.size >= emitted ? c : undefined;
  }, { timeoutMs: 20_000 }).catch(() => seqsOnDisk(col.dataDir, run));
  const allAt = Date.now();
  const r = tally(counts, emitted);
  console.log(
    `collector down 20 s at ${RATE} records/s: ${during?.seq} emitted during the outage, ${emitted} in all, ${r.unique} arrived, ` +
      `${r.missing.length} missing, ${r.duplicates} duplicates; all on disk ${allAt - upAt} ms after the collector started; ` +
      `sender stats before exit ${JSON.stringify(end.stats)}`,
  );
  expect({ missing: r.missing.length, first: r.missing.slice(0, 10) }).toEqual({ missing: 0, first: [] });
  expect(r.duplicates).toBeLessThanOrEqual(emitted / 1000);
  expect(app.output()).not.toMatch(/dropped \d+ log records/);
  expect(end.stats.dropped.below_level).toBe(0);
});

test('app SIGKILLed during an outage; collector started, then a successor of the same service: every record up to 1 s before the kill arrives', async () => {
  const col = await downCollector();
  const run = `kill-${Date.now()}`;
  const spillDir = path.join(outDir, 'spill-b');
  const service = 'spill-e2e-b';
  const app = sender(col, 'b1', { OTEL_SERVICE_NAME: service, CCR_OTEL_SPILL_DIR: spillDir, RATE: String(RATE), DURATION_MS: '60000', RUN: run });
  await waitFor('the sender emitting', () => outputJsonLines(app).some((l) => l.seq > 4 * RATE), { timeoutMs: 20_000, proc: app });
  await sleep(4000);
  const killAt = Date.now();
  app.child.kill('SIGKILL');
  await app.exited();
  const progress = outputJsonLines(app).filter((l) => l.seq !== undefined);
  const before = progress.filter((l) => l.at <= killAt - 1000).pop();
  const lastSeen = progress.pop();
  expect(before).toBeDefined();
  const upTo: number = before.seq;

  await col.restart();
  const successor = sender(col, 'b2', { OTEL_SERVICE_NAME: service, CCR_OTEL_SPILL_DIR: spillDir, RATE: '0', DURATION_MS: '20000', RUN: `${run}-successor` });
  const startedAt = Date.now();
  const counts = await waitFor('every record up to 1 s before the kill on disk', () => {
    const c = seqsOnDisk(col.dataDir, run);
    for (let s = 0; s < upTo; s++) if (!c.has(s)) return undefined;
    return c;
  }, { timeoutMs: 20_000, proc: successor }).catch(() => seqsOnDisk(col.dataDir, run));
  const doneAt = Date.now();
  await sleep(1000);
  const stats = outputJsonLines(successor).filter((l) => l.stats).pop()?.stats;
  await successor.stop();
  const r = tally(counts, upTo);
  const later = [...counts.keys()].filter((s) => s >= upTo).length;
  console.log(
    `app SIGKILLed during the outage after emitting ~${lastSeen?.seq} records: ${upTo} emitted up to 1 s before the kill, ` +
      `${r.unique} of them arrived, ${r.missing.length} missing, ${r.duplicates} duplicates; ${later} of the last second arrived too; ` +
      `the successor replayed them in ${doneAt - startedAt} ms (its stats ${JSON.stringify(stats)})`,
  );
  expect({ missing: r.missing.length, first: r.missing.slice(0, 10) }).toEqual({ missing: 0, first: [] });
  expect(r.duplicates).toBeLessThanOrEqual(upTo / 1000);
  expect(stats?.adoptedExported).toBeGreaterThanOrEqual(upTo);
});

test('apps ending by SIGTERM and by process.exit() during an outage: what they held is spilled and a successor delivers it', async () => {
  const col = await downCollector();
  const spillDir = path.join(outDir, 'spill-c');
  const service = 'spill-e2e-c';
  const runs: Array<{ run: string; emitted: number; stats: any }> = [];
  for (const exit of ['sigterm', 'exit']) {
    const run = `${exit}-${Date.now()}`;
    // a long schedule delay and large batches: every record is still queued when the app ends
    const app = sender(col, `c-${exit}`, {
      OTEL_SERVICE_NAME: service, CCR_OTEL_SPILL_DIR: spillDir, OTEL_BLRP_SCHEDULE_DELAY: '60000', OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '8192', RATE: String(RATE), DURATION_MS: '3000', RUN: run, EXIT: exit,
    });
    const code = await app.exited();
    const end = outputJsonLines(app).find((l) => l.emitted !== undefined);
    if (!end) throw new Error(`the sender printed no count (exit ${JSON.stringify(code)}):\n${app.output().slice(-2000)}`);
    expect(end.emitted).toBe((RATE * 3000) / 1000);
    expect(end.stats.queued).toBe(end.emitted);
    runs.push({ run, emitted: end.emitted, stats: end.stats });
  }
  await col.restart();
  const successor = sender(col, 'c-successor', { OTEL_SERVICE_NAME: service, CCR_OTEL_SPILL_DIR: spillDir, RATE: '0', DURATION_MS: '20000', RUN: 'c-successor' });
  for (const { run, emitted, stats } of runs) {
    const counts = await waitFor(`every record of ${run} on disk`, () => {
      const c = seqsOnDisk(col.dataDir, run);
      return c.size >= emitted ? c : undefined;
    }, { timeoutMs: 20_000, proc: successor }).catch(() => seqsOnDisk(col.dataDir, run));
    const r = tally(counts, emitted);
    console.log(`${run}: ${emitted} emitted (queued at the end: ${stats?.queued}), ${r.unique} arrived, ${r.missing.length} missing, ${r.duplicates} duplicates`);
    expect({ missing: r.missing.length, first: r.missing.slice(0, 10) }).toEqual({ missing: 0, first: [] });
    expect(r.duplicates).toBe(0);
  }
  await successor.stop();
});
