// Durable spill cost: write and replay throughput, and the event-loop delay while replaying.
//   node bench/spill.mjs [--runs 3] [--batches 2000] [--dir /some/disk] [--json] [--spill-module path/to/dist/spill/index.js]
// `npm run bench` (bench/run.mjs) runs it with --runs 1 --json once per run, beside the other scenarios.
// Batches of 512 log records as the engine hands them over: encoded by BatchingLogRecordProcessor,
// 16 distinct batches of records like a gateway's (a message with a request id, route, model,
// status, duration and token counts as attributes), each ~166 KB encoded (~325 B a record). append() stores them
// gzip-compressed (in the thread pool); the replay's send gets the stored bytes (what the
// http/protobuf exporter sends as they are). --spill-module runs another build of the spill (a
// copy of an older dist/, for a before/after side by side); the payloads are the same.
// Each run: a child process appends every batch and waits until all are written (write
// throughput, and the main-thread time append() takes), then exits leaving its directory;
// this process then opens a spill of the same service, which adopts that directory (open
// time), and replays it with a send that answers 'ok' at once (replay throughput), twice
// over: alone, and with live traffic on the event loop (100k records/s of synthetic work:
// 100 records' worth every ms). monitorEventLoopDelay runs through every replay, and through
// the floor: the same reads and CRC-32s in a bare loop, no spill.
// Prints a markdown table of medians and writes bench/results/spill-latest.json (with --json: one
// line of raw per-run results instead, and no file).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, read, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { spillTable, summarizeSpill } from './lib/spill-summary.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const spillModule = value('--spill-module', join(here, '..', 'packages', 'processors', 'dist', 'spill', 'index.js'));
const { DurableSpill } = createRequire(import.meta.url)(spillModule);
const json = args.includes('--json');
const RECORDS_PER_BATCH = 512;
const RECORD_BYTES = 200;
const PAYLOAD = RECORDS_PER_BATCH * RECORD_BYTES;
const MiB = 1024 * 1024;

/** 16 distinct encoded batches of RECORDS_PER_BATCH gateway-like log records (the same every run). */
async function encodedPayloads() {
  const { SeverityNumber } = await import('@opentelemetry/api');
  const { LoggerProvider } = await import('@opentelemetry/sdk-logs');
  const { BatchingLogRecordProcessor } = await import('@ccr/otel-processors');
  const out = [];
  const capture = { exportsEncodedBatches: true, export: (b, cb) => (out.push(b.bytes), cb({ code: 0 })), shutdown: async () => {} };
  const p = new BatchingLogRecordProcessor({ exporter: capture, env: {}, maxExportBatchSize: RECORDS_PER_BATCH, scheduledDelayMillis: 60_000 });
  const logger = new LoggerProvider({ processors: [p] }).getLogger('ccr-gateway');
  const models = ['claude-sonnet-4', 'claude-opus-4', 'gpt-4.1', 'deepseek-chat', 'gemini-2.5-pro'];
  let x = 12345;
  const rnd = (n) => ((x = (x * 1103515245 + 12345) >>> 0), x % n);
  for (let i = 0; i < 16 * RECORDS_PER_BATCH; i++) {
    const id = `req_${(i * 2654435761 >>> 0).toString(36)}${rnd(1e6).toString(36)}`;
    logger.emit({
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      body: `request ${id} forwarded to ${models[i % 5]} in ${rnd(4000)} ms`,
      attributes: {
        'ccr.request.id': id,
        'http.route': '/v1/messages',
        'http.response.status_code': rnd(50) === 0 ? 529 : 200,
        'gen_ai.request.model': models[i % 5],
        'gen_ai.usage.input_tokens': rnd(20000),
        'gen_ai.usage.output_tokens': rnd(4000),
        duration_ms: rnd(4000),
      },
    });
  }
  await p.forceFlush();
  return out;
}

// ---- child: the writer ----
if (args[0] === '--write') {
  const [, dir, batches] = args;
  const n = Number(batches);
  const payloads = await encodedPayloads(); // made before the clock starts
  const spill = new DurableSpill({ dir, serviceName: 'bench', maxBytes: 4 * n * (PAYLOAD + 64) });
  await spill.open();
  const t0 = performance.now();
  let appendMs = 0;
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    spill.append({ signal: 'logs', bytes: payloads[i % payloads.length], records: RECORDS_PER_BATCH, priority: i % 5 });
    appendMs += performance.now() - a;
    // Batches arrive over time: let the flush run between bursts of 64.
    if (i % 64 === 63) {
      spill.flush();
      await new Promise((r) => setImmediate(r));
    }
  }
  // (flushed again while waiting: a batch whose compression was still running stays for the next flush)
  for (spill.flush(); spill.stats().written.batches < n; spill.flush()) await new Promise((r) => setTimeout(r, 1));
  const ms = performance.now() - t0;
  const s = spill.stats();
  // Leave the directory for the successor (as a killed process would); close() keeps it since it holds batches.
  await spill.close();
  const encodedBytes = Array.from({ length: n }, (_, i) => payloads[i % payloads.length].length).reduce((a, b) => a + b, 0);
  process.stdout.write(JSON.stringify({ ms, appendMs, batches: n, bytes: s.written.bytes, records: s.written.records, encodedBytes }) + '\n');
  process.exit(0);
}

// ---- parent ----
function liveLoad() {
  // ~100 records' worth of main-thread work per ms: format and checksum a 200-byte line each.
  const line = Buffer.alloc(RECORD_BYTES, 'x');
  let sink = 0;
  const t = setInterval(() => {
    for (let i = 0; i < 100; i++) {
      line.writeUInt32LE(i, 0);
      sink ^= line.toString('latin1', 0, 64).length;
    }
  }, 1);
  return () => {
    clearInterval(t);
    return sink;
  };
}

async function replayOnce(dir, withLive) {
  const spill = new DurableSpill({ dir, serviceName: 'bench', maxBytes: 1024 * MiB });
  const o0 = performance.now();
  await spill.open();
  const openMs = performance.now() - o0;
  const adopted = spill.stats().adopted;
  const h = monitorEventLoopDelay({ resolution: 1 });
  const stop = withLive ? liveLoad() : undefined;
  h.enable();
  const t0 = performance.now();
  const r = await spill.replay(async () => 'ok');
  const ms = performance.now() - t0;
  h.disable();
  // The same span of time with the same live work and no replay: this machine's floor, side by side.
  const base = monitorEventLoopDelay({ resolution: 1 });
  base.enable();
  await new Promise((res) => setTimeout(res, Math.max(ms, 200)));
  base.disable();
  stop?.();
  const s = spill.stats();
  await spill.close();
  if (r.stopped !== 'empty' || s.replayed.batches !== adopted.batches) throw new Error(`replay incomplete: ${JSON.stringify({ r, s })}`);
  return {
    openMs, ms, bytes: s.replayed.bytes, records: s.replayed.records, adoptedRecords: adopted.records, possibleDuplicates: s.possibleDuplicates.records,
    p99: h.percentile(99) / 1e6, max: h.max / 1e6, baseP99: base.percentile(99) / 1e6, baseMax: base.max / 1e6,
  };
}

// The floor any replay has to pay: the same reads (one per batch, into one buffer) and CRC-32s,
// with no spill around them.
const readAsync = promisify(read);
async function floorOnce(dir, batches, withLive, entry) {
  const file = join(dir, 'floor.bin');
  writeFileSync(file, randomBytes(batches * entry));
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(entry);
  const h = monitorEventLoopDelay({ resolution: 1 });
  const stop = withLive ? liveLoad() : undefined;
  h.enable();
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) {
    await readAsync(fd, buf, 0, entry, i * entry);
    crc32(buf.subarray(32));
  }
  const ms = performance.now() - t0;
  h.disable();
  stop?.();
  closeSync(fd);
  return { ms, records: batches * RECORDS_PER_BATCH, bytes: batches * entry, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

const runs = Number(value('--runs', '3'));
const batches = Number(value('--batches', '2000'));
const root = value('--dir', tmpdir());
const raw = { write: [], replay: [], replayLive: [], floor: [], floorLive: [] };

for (let run = 0; run < runs; run++) {
  for (const mode of ['replay', 'replayLive']) {
    const dir = mkdtempSync(join(root, 'spill-bench-'));
    try {
      const w = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--write', dir, String(batches), '--spill-module', spillModule], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (w.status !== 0) throw new Error(`writer exited with ${w.status}`);
      const write = JSON.parse(w.stdout.trim().split('\n').pop());
      if (mode === 'replay') raw.write.push(write);
      raw[mode].push(await replayOnce(dir, mode === 'replayLive'));
      // entries the size the spill stored (compressed), read and checked the same way
      raw[mode === 'replay' ? 'floor' : 'floorLive'].push(await floorOnce(dir, batches, mode === 'replayLive', Math.round(write.bytes / write.batches)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (!json) process.stderr.write(`run ${run + 1}/${runs} done\n`);
}

const meta = { batches, recordsPerBatch: RECORDS_PER_BATCH, payloadBytes: Math.round(raw.write[0].encodedBytes / batches), node: process.version, dir: root, spillModule };
if (json) {
  // for bench/run.mjs, which runs this once per run and takes the medians itself
  process.stdout.write(JSON.stringify({ meta, raw }) + '\n');
} else {
  const summary = summarizeSpill(raw, meta);
  console.log(spillTable(summary).join('\n'));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'spill-latest.json'), JSON.stringify({ ...summary, raw }, null, 2) + '\n');
}
