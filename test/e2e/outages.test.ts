/**
 * Long outages and a broken spill, end to end (issue 8's fault suite, with faults.test.ts and
 * spill.test.ts): a real child process with the preload sends records to a real ccr-otelcol (shipped
 * config, every rotated file kept) while
 * - the collector is down for the first 60 s (NODE_ENV=production LOG_LEVEL=info: the production
 *   profile's spill, the adaptive level on: an outage is not load, no record is refused below_level);
 * - the collector is SIGKILLed mid-stream and started again after 30 s and after 120 s;
 * - spans (the tracer's) go through a SIGKILL of the collector;
 * - the spill cannot be used: its directory is under a regular file (ENOTDIR), its files cannot grow
 *   (RLIMIT_FSIZE on the app, EFBIG), or it is full (CCR_OTEL_SPILL_MAX_BYTES).
 * Once the collector is back and the app's spill is empty, the app stops emitting (SIGUSR2), awaits
 * the preload's shutdown() and prints its final counts. Every case reconciles every record on the
 * collector's disk: emitted = unique arrived + counted drops, the counts add up exactly
 * (emitted = exported + dropped + queued + in flight + spilled, the last three 0), duplicates
 * counted and printed, and the app ends by itself with code 0.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readJsonLines, signalFiles, startCollector, tearDown, type RunningCollector } from '../helpers/collector';
import { attrValue } from '../helpers/otlp-json';
import { childEnv, node24, OTEL_SETUP_DIR, sleep, start, waitFor, type Started } from '../helpers/process';
import { outputJsonLines, reconcileSender, seqsOnDisk, spillBytes, type Reconciled } from '../helpers/records';

/** The load: 4,000 log records/s. Spans and the broken-spill cases: 2,000/s. */
const RATE = 4000;
const SLOW_RATE = 2000;
/** SeverityNumber.INFO, the configured level: a floor above it is the adaptive level's. */
const INFO = 9;
const SENDER = path.join(__dirname, 'spill-sender.js');
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-outages-e2e-'));
const procs: Started[] = [];
let col: RunningCollector;
const results: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  // a long case writes hundreds of MB of OTLP-JSON: keep every rotated file to count them all
  col = await startCollector({ env: { LOG_MAX_FILES: '0' } });
});

afterAll(async () => {
  await tearDown(procs, [col], [outDir]);
  console.log(`outage suite:\n${results.map((r) => JSON.stringify(r)).join('\n')}`);
});

/** A sender that emits until SIGUSR2 (or 15 min), then awaits shutdown() and prints its final counts. */
interface Sent {
  app: Started;
  run: string;
  service: string;
}

function sender(name: string, env: Record<string, string>): Sent {
  const run = `${name}-${Date.now()}`;
  const service = `outages-e2e-${name}`;
  const app = start(node24(), ['-r', OTEL_SETUP_DIR, SENDER], {
    env: childEnv({
      OTEL_SETUP_DIR,
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_ENDPOINT: col.otlpHttpEndpoint,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      // the production profile's spill, under the user's cache directory (here one per case)
      XDG_CACHE_HOME: path.join(outDir, `cache-${name}`),
      RATE: String(RATE),
      DURATION_MS: String(15 * 60_000),
      RUN: run,
      EXIT: 'shutdown',
      ...env,
    }),
    outputFile: path.join(outDir, `${name}.out`),
  });
  procs.push(app);
  return { app, run, service };
}

/** Until the app has emitted for `ms` (its own count), polled. */
async function emittedFor(app: Started, rate: number, ms: number): Promise<void> {
  await waitFor(`the sender emitting for ${ms} ms`, () => outputJsonLines(app).some((l) => l.seq >= (rate * ms) / 1000), { timeoutMs: ms + 30_000, proc: app });
}

/**
 * Once the app reports its spill empty after `since` (the collector back), it stops emitting
 * (SIGUSR2) and ends through shutdown(). Returns when the spill was seen empty.
 */
async function endOnceReplayed(app: Started, since: number): Promise<number> {
  const line = await waitFor('the app replaying its spill', () => outputJsonLines(app).find((l) => l.spilled === 0 && l.at > since), {
    timeoutMs: 180_000,
    intervalMs: 500,
    proc: app,
  });
  app.child.kill('SIGUSR2');
  return line.at;
}

/** Log records the preload wrote itself for `service` (no `run` attribute: the level floor's WARN records) in the collector's files. */
function preloadRecordsOnDisk(service: string): number {
  let n = 0;
  for (const file of signalFiles(col.dataDir, 'logs').all) {
    for (const req of readJsonLines([file])) {
      for (const rl of req.resourceLogs ?? []) {
        if (attrValue(rl.resource?.attributes, 'service.name') !== service) continue;
        for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) if (attrValue(lr.attributes, 'run') === undefined) n++;
      }
    }
  }
  return n;
}

/** The sender's records against the collector's files; the checks every case shares; one row of the table. */
async function reconcile(name: string, { app, run, service }: Sent, extra: Record<string, unknown> = {}, signal: 'logs' | 'traces' = 'logs'): Promise<Reconciled> {
  const r = await reconcileSender(app, col.dataDir, run, { signal, timeoutMs: 60_000 });
  const row = { case: name, emitted: r.emitted, arrived: r.unique, duplicates: r.duplicates, drops: r.dropped, missing: r.missing.length, ...extra };
  const floorRaised = outputJsonLines(app).filter((l) => l.floor > INFO).length;
  if (floorRaised) Object.assign(row, { secondsWithTheLevelFloorRaised: floorRaised });
  results.push(row);
  console.log(`${name}: ${JSON.stringify(row)}; final stats ${JSON.stringify(r.stats)}`);
  // the app ended by itself after shutdown(): never crashed, never threw
  expect({ exit: r.exit, final: r.final }).toEqual({ exit: { code: 0, signal: null }, final: true });
  expect(app.output()).not.toMatch(/Uncaught|UnhandledPromiseRejection|^\s+at /m);
  expect(r.emitted).toBeGreaterThan(0);
  // the counts add up exactly, nothing held any more; beyond the app's records the processor counts
  // the preload's own (the adaptive level's WARN records, when the floor moved), all on disk
  const s = r.stats;
  const own = signal === 'logs' && s.exported + r.drops !== r.emitted ? preloadRecordsOnDisk(service) : 0;
  expect({ queued: s.queued, inFlight: s.inFlight, spilled: s.spilled, sum: s.exported + r.drops }).toEqual({ queued: 0, inFlight: 0, spilled: 0, sum: r.emitted + own });
  // nothing lost without a count: what did not arrive is exactly what was counted as dropped
  expect({ unique: r.unique + r.drops, firstMissing: r.missing.slice(0, 10) }).toEqual({ unique: r.emitted, firstMissing: r.drops ? r.missing.slice(0, 10) : [] });
  return r;
}

test('collector down for the first 60 s at 4k records/s (production profile, adaptive level on), then started: every record arrives, none refused below_level', async () => {
  await col.kill();
  const sent = sender('down-60s', {});
  const { app } = sent;
  await emittedFor(app, RATE, 60_000);
  const spilled = spillBytes(path.join(outDir, 'cache-down-60s'));
  const upAt = Date.now();
  await col.restart();
  const emptyAt = await endOnceReplayed(app, upAt);
  const r = await reconcile('collector down at start for 60 s', sent, { spillBytesAtRestart: spilled, spillEmptyAfterMs: emptyAt - upAt });
  expect(spilled).toBeGreaterThan(0);
  expect(r.drops).toBe(0);
  expect(r.stats.dropped.below_level).toBe(0);
  expect(r.duplicates).toBeLessThanOrEqual(r.emitted / 1000);
}, 300_000);

/** SIGKILL of the collector once the app has sent for 3 s; started again after `downMs`. */
async function killCase(name: string, downMs: number, env: Record<string, string> = {}, signal: 'logs' | 'traces' = 'logs'): Promise<Reconciled> {
  const sent = sender(name, env);
  const { app, run } = sent;
  const rate = Number(env.RATE ?? RATE);
  await emittedFor(app, rate, 3000);
  await waitFor('records on disk', () => seqsOnDisk(col.dataDir, run, signal).size > 0, { timeoutMs: 20_000, proc: app });
  await col.kill();
  await sleep(downMs);
  const spilled = spillBytes(path.join(outDir, `cache-${name}`));
  const upAt = Date.now();
  await col.restart();
  const emptyAt = await endOnceReplayed(app, upAt);
  return reconcile(name, sent, { downMs, spillBytesAtRestart: spilled, spillEmptyAfterMs: emptyAt - upAt }, signal);
}

test('collector SIGKILLed mid-stream, back after 30 s: none lost, duplicates counted', async () => {
  const r = await killCase('kill-30s', 30_000);
  expect(r.drops).toBe(0);
  expect(r.stats.dropped.below_level).toBe(0);
  expect(r.duplicates).toBeLessThanOrEqual(r.emitted / 1000);
}, 300_000);

test('collector SIGKILLed mid-stream, back after 120 s: none lost, duplicates counted', async () => {
  const r = await killCase('kill-120s', 120_000);
  expect(r.drops).toBe(0);
  expect(r.stats.dropped.below_level).toBe(0);
  expect(r.duplicates).toBeLessThanOrEqual(r.emitted / 1000);
}, 400_000);

test('spans through a SIGKILL of the collector (back after 10 s): every span in the traces file or counted', async () => {
  const r = await killCase('spans-kill-10s', 10_000, { SIGNAL: 'spans', RATE: String(SLOW_RATE) }, 'traces');
  expect(r.drops).toBe(0);
  expect(r.duplicates).toBeLessThanOrEqual(r.emitted / 1000);
}, 300_000);

/**
 * A broken spill: the collector is down for 8 s after 2 s of traffic at 2k records/s (adaptive level
 * off: the drops are the spill's and the exporter's, not the level's); what the spill cannot take
 * is retried in memory or dropped, always counted. `setup` runs once the app is started.
 */
async function brokenSpillCase(name: string, env: Record<string, string>, setup?: (app: Started) => void): Promise<Reconciled> {
  const sent = sender(name, { RATE: String(SLOW_RATE), CCR_OTEL_ADAPTIVE: 'false', ...env });
  const { app } = sent;
  setup?.(app);
  await emittedFor(app, SLOW_RATE, 2000);
  await col.kill();
  await sleep(8000);
  const upAt = Date.now();
  await col.restart();
  await endOnceReplayed(app, upAt);
  return reconcile(name, sent);
}

test('spill directory under a regular file (ENOTDIR): the app never throws, every record arrives or is counted', async () => {
  const file = path.join(outDir, 'a-regular-file');
  fs.writeFileSync(file, 'not a directory\n');
  const r = await brokenSpillCase('spill-enotdir', { CCR_OTEL_SPILL_DIR: path.join(file, 'spill') });
  expect(fs.readFileSync(file, 'utf8')).toBe('not a directory\n');
  // nothing spilled: what the 8 s outage held was retried from memory (or dropped, counted)
  expect(r.stats.dropped.spill_full + r.stats.dropped.spill_disk_error).toBe(0);
  expect(r.unique).toBeGreaterThan(0);
}, 300_000);

test('spill files cannot grow (RLIMIT_FSIZE 64 KiB on the app: EFBIG): the app never throws, every record arrives or is counted', async () => {
  const spillDir = path.join(outDir, 'spill-efbig');
  const r = await brokenSpillCase('spill-efbig', { CCR_OTEL_SPILL_DIR: spillDir }, (app) => {
    // the app's own output file stays far below the limit (a few KB per second)
    // (the spill stores these records gzip-compressed, ~7 B each: the 8 s outage needs ~110 KB)
    const p = spawnSync('prlimit', ['--pid', String(app.pid), '--fsize=65536:unlimited'], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`prlimit --fsize failed (needs util-linux prlimit): ${p.stderr || p.error}`);
  });
  // the first segment reached the limit: the batches in the failed write are counted spill_disk_error
  expect(r.stats.dropped.spill_disk_error).toBeGreaterThan(0);
  expect(r.unique).toBeGreaterThan(0);
}, 300_000);

test('spill full (CCR_OTEL_SPILL_MAX_BYTES 96 KiB, ~5,000 records): the app never throws, what does not fit is counted spill_full, the rest replayed', async () => {
  // a batch is admitted at its uncompressed size (~60 KB here) and then held compressed (~7 B a record)
  const r = await brokenSpillCase('spill-full', { CCR_OTEL_SPILL_DIR: path.join(outDir, 'spill-full'), CCR_OTEL_SPILL_MAX_BYTES: '98304' });
  // the 8 s outage held ~16,000 records: the oldest beyond the bound were shed, the rest replayed
  expect(r.stats.dropped.spill_full).toBeGreaterThan(0);
  expect(r.unique).toBeGreaterThan(0);
}, 300_000);
