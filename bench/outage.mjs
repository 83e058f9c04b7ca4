// A long collector outage with the durable spill, as issue 8 sets the target: the preload
// (NODE_ENV=production LOG_LEVEL=info: the production profile's spill under XDG_CACHE_HOME, the
// adaptive level on) sends --rate log records/s (default 4,000) to the real ccr-otelcol (shipped
// config, every rotated file kept), which is down for the first --minutes (default 10); then it is
// started: the app keeps sending while the spill replays, and for --after-seconds (default 10) after
// it is empty (at most --max-after-seconds, default 900), then shuts its telemetry down and prints
// its final counts. Measured:
// - every record reconciled on the collector's disk: emitted = unique arrived + counted drops,
//   duplicates counted (target: zero lost, duplicates <= 0.1 %);
// - the app's memory (RSS, heap, array buffers) every second, as it reports it, during the outage
//   and after; the spill's bytes on disk every --sample-seconds (default 5);
// - how long the replay took: from the collector's start until the app's spill is empty.
//   node bench/outage.mjs [--minutes 10] [--rate 4000] [--after-seconds 10] [--max-after-seconds 900] [--sample-seconds 5]
//                         [--spill-max-bytes N] [--out bench/results/outage.json]
// Needs the binaries (bash collector/build.sh) and a build (npm run build). Only processes started
// here are ever signalled (the test helpers' own bookkeeping).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { helper } from './lib/test-helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '4000' },
    'after-seconds': { type: 'string', default: '10' },
    'max-after-seconds': { type: 'string', default: '900' },
    'sample-seconds': { type: 'string', default: '5' },
    // the spill's bound (CCR_OTEL_SPILL_MAX_BYTES); default: the preload's (256 MiB)
    'spill-max-bytes': { type: 'string' },
    out: { type: 'string', default: path.join(here, 'results', 'outage.json') },
  },
});
const MINUTES = Number(values.minutes);
const RATE = Number(values.rate);
const AFTER_MS = Number(values['after-seconds']) * 1000;
const MAX_AFTER_MS = Number(values['max-after-seconds']) * 1000;
const SAMPLE_MS = Number(values['sample-seconds']) * 1000;
for (const [k, v] of Object.entries({ minutes: MINUTES, rate: RATE, 'after-seconds': AFTER_MS, 'max-after-seconds': MAX_AFTER_MS, 'sample-seconds': SAMPLE_MS })) {
  if (!(v > 0)) throw new Error(`--${k} must be a positive number, got ${JSON.stringify(values[k])}`);
}
const OUTAGE_MS = MINUTES * 60_000;
/** SeverityNumber.INFO: the configured level (LOG_LEVEL=info); the floor above it is the adaptive level's. */
const INFO = 9;

const { startCollector } = helper('collector');
const { childEnv, node24, OTEL_SETUP_DIR, sleep, start } = helper('process');
const { outputJsonLines, seqsOnDisk, spillBytes, tally } = helper('records');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-bench-outage-'));
const cacheHome = path.join(work, 'cache');
const spillRoot = path.join(cacheHome, 'ccr-otel', 'spill');
const log = (m) => console.log(`[outage ${new Date().toISOString().slice(11, 19)}] ${m}`);
// the helpers' children are unref'd: this keeps the loop alive while we wait on them
const keepAlive = setInterval(() => {}, 60_000);

const summarize = (xs) => {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1], first: xs[0], last: xs[xs.length - 1] };
};
const mib = (b) => (b === undefined ? undefined : Math.round((b / 1048576) * 10) / 10);

let col;
let app;
try {
  col = await startCollector({ env: { LOG_MAX_FILES: '0' } });
  await col.kill(); // down from the start: its ports and data directory stay for restart()
  const run = `outage-${Date.now()}`;
  app = start(node24(), ['-r', OTEL_SETUP_DIR, path.join(here, '..', 'test', 'e2e', 'spill-sender.js')], {
    env: childEnv({
      OTEL_SETUP_DIR,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      XDG_CACHE_HOME: cacheHome,
      OTEL_SERVICE_NAME: 'bench-outage',
      OTEL_EXPORTER_OTLP_ENDPOINT: col.otlpHttpEndpoint,
      RATE: String(RATE),
      DURATION_MS: String(OUTAGE_MS + MAX_AFTER_MS),
      RUN: run,
      EXIT: 'shutdown',
      CCR_OTEL_SPILL_MAX_BYTES: values['spill-max-bytes'],
    }),
    outputFile: path.join(work, 'app.out'),
  });
  log(`collector down; app ${app.pid} sending ${RATE} records/s for ${MINUTES} min of outage, then until the spill is replayed`);

  const t0 = Date.now();
  const spillSamples = [];
  const sampleSpill = () => spillSamples.push({ t: Math.round((Date.now() - t0) / 1000), bytes: spillBytes(spillRoot) });
  while (Date.now() - t0 < OUTAGE_MS) {
    if (app.child.exitCode !== null || app.child.signalCode !== null) throw new Error(`the app ended during the outage:\n${app.output().slice(-2000)}`);
    sampleSpill();
    if (spillSamples.length % Math.max(1, Math.round(60_000 / SAMPLE_MS)) === 0) {
      const last = outputJsonLines(app).filter((l) => l.mem).pop();
      log(`${Math.round((Date.now() - t0) / 1000)} s: ${last?.spilled} records spilled, spill ${mib(spillSamples.at(-1).bytes)} MiB, app rss ${mib(last?.mem.rss)} MiB heap ${mib(last?.mem.heapUsed)} MiB`);
    }
    await sleep(Math.min(SAMPLE_MS, OUTAGE_MS - (Date.now() - t0)));
  }
  const upAt = Date.now();
  await col.restart();
  log(`collector started (${Date.now() - upAt} ms to healthy); replaying`);
  // replay: from the first export after the restart (exported grows) until the spill is empty; then
  // --after-seconds more of live traffic (SIGUSR2 ends the app's emitting), or at most --max-after-seconds
  let replayStartAt;
  let replayFrom;
  let replayedAt;
  let prev;
  for (;;) {
    if (app.child.exitCode !== null || app.child.signalCode !== null) break;
    sampleSpill();
    const last = outputJsonLines(app).filter((l) => l.spilled !== undefined).pop();
    if (last && prev && prev.at > upAt) {
      if (replayStartAt === undefined && last.exported > prev.exported) {
        replayStartAt = prev.at;
        replayFrom = prev.spilled;
        log(`first export ${replayStartAt - upAt} ms after the collector started, ${replayFrom} records spilled`);
      }
      if (replayedAt === undefined && last.spilled === 0) {
        replayedAt = last.at;
        log(`spill empty ${replayedAt - upAt} ms after the collector started`);
      }
    }
    prev = last;
    const doneFor = replayedAt === undefined ? 0 : Date.now() - replayedAt;
    if (doneFor >= AFTER_MS || Date.now() - upAt >= MAX_AFTER_MS) {
      app.child.kill('SIGUSR2');
      await app.exited();
      break;
    }
    await sleep(1000);
  }
  sampleSpill();
  const lines = outputJsonLines(app);
  const end = lines.find((l) => l.emitted !== undefined);
  const final = lines.find((l) => l.final !== undefined)?.final;
  if (!end || !final) throw new Error(`the app printed no final counts (exit ${JSON.stringify(await app.exited())}):\n${app.output().slice(-2000)}`);
  const emitted = end.emitted;
  log(`app ended; ${emitted} emitted; counting records on disk`);
  // what the collector acknowledged is on disk already; a last poll for the final requests in its pipeline
  let counts = seqsOnDisk(col.dataDir, run);
  for (let i = 0; i < 10 && tally(counts, emitted).unique + Object.values(final.dropped).reduce((a, b) => a + b, 0) < emitted; i++) {
    await sleep(2000);
    counts = seqsOnDisk(col.dataDir, run);
  }
  const t = tally(counts, emitted);
  const drops = Object.fromEntries(Object.entries(final.dropped).filter(([, v]) => v > 0));
  const dropped = Object.values(drops).reduce((a, b) => a + b, 0);

  const mem = lines.filter((l) => l.mem);
  const during = mem.filter((l) => l.at < upAt);
  const after = mem.filter((l) => l.at >= upAt);
  const memOf = (ls) => ({
    rssMiB: summarize(ls.map((l) => mib(l.mem.rss))),
    heapUsedMiB: summarize(ls.map((l) => mib(l.mem.heapUsed))),
    arrayBuffersMiB: summarize(ls.map((l) => mib(l.mem.arrayBuffers))),
  });
  // RSS over the outage: the first minute against the last (a leak would grow with the spill)
  const minuteRss = (from, to) => summarize(during.filter((l) => l.at - t0 >= from && l.at - t0 < to).map((l) => mib(l.mem.rss)))?.median;
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), node: process.version },
    config: { outageMinutes: MINUTES, ratePerSec: RATE, afterSeconds: AFTER_MS / 1000, maxAfterSeconds: MAX_AFTER_MS / 1000, spillMaxBytes: values['spill-max-bytes'] ?? 'default (256 MiB)', profile: 'NODE_ENV=production LOG_LEVEL=info (adaptive level on, spill under XDG_CACHE_HOME)' },
    records: {
      emitted,
      emittedDuringOutage: lines.filter((l) => l.seq !== undefined && l.at < upAt).pop()?.seq,
      arrivedUnique: t.unique,
      duplicates: t.duplicates,
      duplicateShare: t.duplicates / emitted,
      drops,
      missing: t.missing.length,
      lostWithoutCount: Math.max(0, t.missing.length - dropped),
      // records the preload wrote itself (the level floor's WARN records): exported + dropped - emitted
      preloadOwnRecords: final.exported + dropped - emitted,
      finalStats: final,
    },
    spill: {
      peakMiB: mib(Math.max(...spillSamples.map((s) => s.bytes))),
      atRestartMiB: mib(spillSamples.filter((s) => s.t * 1000 <= upAt - t0).pop()?.bytes),
      // from the collector's start (its restart included) until the app's spill is empty
      emptyAfterMillis: replayedAt === undefined ? null : replayedAt - upAt,
      // the first export succeeded this long after the start: the app's backoff (up to 30 s) ran out
      replayStartedAfterMillis: replayStartAt === undefined ? null : replayStartAt - upAt,
      // records/s replayed (besides the live RATE), from the first export to the empty spill
      replayRecordsPerSec: replayedAt === undefined || replayStartAt === undefined ? null : Math.round((replayFrom * 1000) / Math.max(1, replayedAt - replayStartAt)),
      samples: spillSamples,
    },
    appMemory: {
      duringOutage: memOf(during),
      afterRestart: memOf(after),
      rssMedianFirstMinuteMiB: minuteRss(0, 60_000),
      rssMedianLastMinuteMiB: minuteRss(OUTAGE_MS - 60_000, OUTAGE_MS),
      // seconds (since the start) in which the adaptive level floor was above the configured level, with the load read then
      levelFloorRaised: mem.filter((l) => l.floor > INFO).map((l) => ({ t: Math.round((l.at - t0) / 1000), floor: l.floor, load: Math.round(l.load * 100) / 100 })),
      // one sample every --sample-seconds (the summaries above use every second)
      samples: mem.filter((_, i) => i % Math.max(1, Math.round(SAMPLE_MS / 1000)) === 0).map((l) => ({
        t: Math.round((l.at - t0) / 1000),
        rssMiB: mib(l.mem.rss),
        heapUsedMiB: mib(l.mem.heapUsed),
        exported: l.exported,
        spilled: l.spilled,
        queued: l.queued,
        belowLevel: l.belowLevel,
        floor: l.floor,
        load: l.load === undefined ? undefined : Math.round(l.load * 100) / 100,
      })),
    },
  };
  fs.mkdirSync(path.dirname(values.out), { recursive: true });
  fs.writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
  const { samples: _s, ...spill } = result.spill;
  const { samples: _m, ...appMemory } = result.appMemory;
  const { finalStats: _f, ...records } = result.records;
  console.log(JSON.stringify({ records, spill, appMemory }, null, 2));
  log(`written to ${values.out}`);
  process.exitCode = result.records.lostWithoutCount === 0 ? 0 : 1;
} finally {
  await app?.stop('SIGKILL').catch(() => undefined);
  await col?.stop().catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
  clearInterval(keepAlive);
}
