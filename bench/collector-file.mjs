// Throughput of the collector's file path, side by side in one run: our rotating_file exporter
// (gzip of rotated backups, and without compression) against the contrib file exporter, in the same
// ccr-otelcol binary with the same pipeline (otlp receiver -> memory_limiter -> exporter, logs only).
//   node bench/collector-file.mjs [--seconds 10] [--runs 3] [--concurrency 8] [--records 512] [--rotation-mib 10]
// Load: OTLP/HTTP protobuf requests of --records log records (~300 B each, serialized once by the
// SDK's own serializer), --concurrency requests in flight, for --seconds per run. Every request must
// be answered 200. Per variant the median of --runs runs is printed:
//   records/s and MiB/s (OTLP-JSON written, uncompressed) acknowledged by the collector,
//   MiB on disk after the run (the .gz backups are smaller), collector CPU (cores = CPU s / wall s) and
//   collector CPU per record (µs): the figure that holds when the machine is shared and the load
//   generator, not the collector, sets the pace.
// Needs the binaries (bash collector/build.sh). Only processes started here are ever signalled.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const value = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = value('--seconds', 10);
const RUNS = value('--runs', 3);
const CONCURRENCY = value('--concurrency', 8);
const RECORDS = value('--records', 512);
const ROTATION_MIB = value('--rotation-mib', 10);
const FEATURE_GATES = '--feature-gates=+extension.healthcheck.useComponentStatus';

// ---- one OTLP/HTTP protobuf request, serialized by the SDK -------------------------------------
const require = createRequire(import.meta.url);
const { LoggerProvider } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const transformer = createRequire(require.resolve('@opentelemetry/exporter-logs-otlp-proto'))('@opentelemetry/otlp-transformer');

function requestBody() {
  const records = [];
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench-collector-file', 'service.instance.id': 'bench-1' }),
    processors: [{ onEmit: (r) => records.push(r), forceFlush: async () => {}, shutdown: async () => {} }],
  });
  const logger = provider.getLogger('bench');
  for (let i = 0; i < RECORDS; i++) {
    logger.emit({
      severityNumber: 9,
      severityText: 'INFO',
      body: `request ${i} completed: POST /v1/messages model=claude-sonnet status=200 ${'x'.repeat(120)}`,
      attributes: { 'http.route': '/v1/messages', 'http.response.status_code': 200, seq: i },
    });
  }
  return Buffer.from(transformer.ProtobufLogsSerializer.serializeRequest(records));
}

// ---- collector variants -------------------------------------------------------------------------
const binaries = () => {
  const out = execFileSync('bash', [path.join(root, 'collector', 'build.sh'), '--print-env'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')));
};

/** The shipped config with the logs exporter swapped for the contrib file exporter (same pipeline otherwise). */
function contribConfig(dir) {
  const shipped = fs.readFileSync(path.join(root, 'collector', 'config.yaml'), 'utf8');
  const cfg = shipped
    .replace(/  rotating_file\/logs:\n(    .*\n)+/, `  file/logs:\n    path: \${env:CCR_OTEL_DATA_DIR}/logs.jsonl\n    format: json\n    rotation:\n      max_megabytes: \${env:LOG_ROTATION_SIZE}\n      max_backups: 100000\n`)
    .replace('exporters: [rotating_file/logs]', 'exporters: [file/logs]');
  if (!cfg.includes('exporters: [file/logs]')) throw new Error('could not derive the contrib config from collector/config.yaml');
  const file = path.join(dir, 'contrib-file.yaml');
  fs.writeFileSync(file, cfg);
  return file;
}

const VARIANTS = [
  { name: 'rotating_file, gzip', env: { LOG_COMPRESSION: 'gzip' } },
  { name: 'rotating_file, none', env: { LOG_COMPRESSION: 'none' } },
  { name: 'contrib file', env: {}, contrib: true },
];

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
}

async function startCollector(bin, variant, work) {
  const dataDir = fs.mkdtempSync(path.join(work, 'data-'));
  const [http, grpc, health, ready, metrics, dead] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    PATH: process.env.PATH,
    HOME: os.homedir(),
    CCR_OTEL_HOST: '127.0.0.1',
    CCR_OTEL_HTTP_PORT: String(http),
    CCR_OTEL_GRPC_PORT: String(grpc),
    CCR_OTEL_HEALTH_PORT: String(health),
    CCR_OTEL_READY_PORT: String(ready),
    CCR_OTEL_METRICS_PORT: String(metrics),
    CCR_OTEL_DATA_DIR: dataDir,
    CCR_OTEL_STORAGE_DIR: path.join(dataDir, 'storage'),
    JAEGER_OTLP_ENDPOINT: `127.0.0.1:${dead}`,
    LOG_ROTATION_SIZE: String(ROTATION_MIB),
    LOG_MAX_FILES: '0',
    CCR_OTEL_MEMORY_LIMIT_MIB: '1000',
    CCR_OTEL_MEMORY_SPIKE_MIB: '200',
    ...variant.env,
  };
  const config = variant.contrib ? contribConfig(work) : path.join(root, 'collector', 'config.yaml');
  const out = fs.openSync(path.join(dataDir, 'collector.out'), 'a');
  const child = spawn(bin, ['--config', config, FEATURE_GATES], { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`collector exited: ${fs.readFileSync(path.join(dataDir, 'collector.out'), 'utf8').slice(-2000)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${health}/health`)).status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('collector not healthy in 60 s');
    await sleep(100);
  }
  return { child, dataDir, url: `http://127.0.0.1:${http}/v1/logs` };
}

async function stopCollector(child) {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 30000);
  await done;
  clearTimeout(t);
}

/** Uncompressed bytes of OTLP-JSON in the data dir (current file + backups) and bytes on disk. */
function filesOnDisk(dir) {
  let json = 0;
  let disk = 0;
  let gz = 0;
  for (const n of fs.readdirSync(dir)) {
    if (!/^logs.*\.jsonl(\.gz)?$/.test(n)) continue;
    const data = fs.readFileSync(path.join(dir, n));
    disk += data.length;
    if (n.endsWith('.gz')) {
      gz++;
      json += zlib.gunzipSync(data).length;
    } else json += data.length;
  }
  return { json, disk, gz };
}

async function runOnce(bin, variant, body, work) {
  const col = await startCollector(bin, variant, work);
  let requests = 0;
  let failures = 0;
  const cpu0 = cpuSeconds(col.child.pid);
  const t0 = performance.now();
  const until = t0 + SECONDS * 1000;
  const sender = async () => {
    while (performance.now() < until) {
      const res = await fetch(col.url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      await res.arrayBuffer();
      if (res.status === 200) requests++;
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, sender));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(col.child.pid) - cpu0;
  await stopCollector(col.child); // ours finishes the pending gzip on shutdown
  const files = filesOnDisk(col.dataDir);
  fs.rmSync(col.dataDir, { recursive: true, force: true });
  return {
    recordsPerSec: (requests * RECORDS) / wall,
    jsonMiBPerSec: files.json / 1048576 / wall,
    diskMiB: files.disk / 1048576,
    jsonMiB: files.json / 1048576,
    gzBackups: files.gz,
    cores: cpu / wall,
    cpuMicrosPerRecord: (cpu * 1e6) / (requests * RECORDS),
    failures,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const { CCR_OTELCOL_BIN: bin } = binaries();
  const body = requestBody();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-bench-file-'));
  console.log(
    `collector file path: ${RECORDS} records (${(body.length / 1024).toFixed(0)} KiB protobuf) per request, ` +
      `${CONCURRENCY} in flight, ${SECONDS} s per run, ${RUNS} runs, rotation ${ROTATION_MIB} MiB; ${os.cpus().length} cores, node ${process.version}`,
  );
  const results = {};
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const v of VARIANTS) {
        (results[v.name] ??= []).push(await runOnce(bin, v, body, work));
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const rows = VARIANTS.map((v) => {
    const rs = results[v.name];
    const m = (k) => median(rs.map((x) => x[k]));
    return {
      name: v.name,
      recordsPerSec: m('recordsPerSec'),
      jsonMiBPerSec: m('jsonMiBPerSec'),
      jsonMiB: m('jsonMiB'),
      diskMiB: m('diskMiB'),
      gzBackups: m('gzBackups'),
      cores: m('cores'),
      cpuMicrosPerRecord: m('cpuMicrosPerRecord'),
      failures: rs.reduce((a, x) => a + x.failures, 0),
    };
  });
  const base = rows.find((r) => r.name === 'contrib file');
  console.log('\n| exporter | records/s | MiB/s (JSON) | vs contrib | MiB written | MiB on disk | .gz backups | collector CPU (cores) | CPU µs/record | vs contrib | non-200 |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${Math.round(r.recordsPerSec).toLocaleString('en-US')} | ${r.jsonMiBPerSec.toFixed(1)} | ${(r.recordsPerSec / base.recordsPerSec).toFixed(2)}x | ` +
        `${r.jsonMiB.toFixed(0)} | ${r.diskMiB.toFixed(0)} | ${r.gzBackups} | ${r.cores.toFixed(2)} | ${r.cpuMicrosPerRecord.toFixed(2)} | ` +
        `${(r.cpuMicrosPerRecord / base.cpuMicrosPerRecord).toFixed(2)}x | ${r.failures} |`,
    );
  }
  console.log(`\nmedian of ${RUNS} runs per variant (interleaved); the load generator (this process) shares the machine; load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}.`);
  if (args.includes('--json')) console.log(JSON.stringify(rows));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
