// What one export costs the main thread: OtlpHttpExporter sending a real batch (512 of the bench's
// log records, encoded by BatchingLogRecordProcessor) to the bench's OTLP sink in another process,
// Main-thread CPU (process.threadCpuUsage) per export, 4 in flight, medians of rounds.
//   node bench/send-cost.mjs [--rounds 5] [--exports 2000] [--gzip]
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { SeverityNumber } from '@opentelemetry/api';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { BatchingLogRecordProcessor, OtlpHttpExporter } from '@ccr/otel-processors';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const value = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const rounds = Number(value('--rounds', '5'));
const exports = Number(value('--exports', '2000'));
const compression = args.includes('--gzip') ? 'gzip' : 'none';

const sink = spawn(process.execPath, [join(here, 'sink.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve) => createInterface({ input: sink.stdout }).once('line', (l) => resolve(`http://127.0.0.1:${JSON.parse(l).port}/v1/logs`)));
const keepAlive = setInterval(() => {}, 1000); // the exporter's sockets are unref'd

try {
  // one real batch: what the processor hands its exporter
  let batch;
  const capture = { exportsEncodedBatches: true, export: (b, cb) => ((batch ??= b), cb({ code: 0 })), shutdown: async () => {} };
  const p = new BatchingLogRecordProcessor({ exporter: capture, env: {} });
  const logger = new LoggerProvider({ processors: [p] }).getLogger('bench');
  for (let i = 0; i < 512; i++)
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'request forwarded to provider', attributes: { 'ccr.request.id': i, 'http.route': '/v1/messages', 'gen_ai.request.model': 'claude-sonnet' } });
  await p.forceFlush();

  const modes = ['mainThread'];
  const exporters = { mainThread: new OtlpHttpExporter('logs', { url, compression, env: {} }) };
  const one = (e) => new Promise((resolve, reject) => e.export(batch, (r) => (r.code === 0 ? resolve() : reject(r.error))));
  const run = async (e, n) => {
    for (let i = 0; i < n; i += 4) await Promise.all([one(e), one(e), one(e), one(e)]);
  };
  for (const m of modes) await run(exporters[m], 400); // warm up: JIT, sockets
  const samples = Object.fromEntries(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const m of modes) {
      const c0 = process.threadCpuUsage();
      const t0 = performance.now();
      await run(exporters[m], exports);
      const c = process.threadCpuUsage(c0);
      samples[m].push({ cpuUs: (c.user + c.system) / exports, wallUs: (1000 * (performance.now() - t0)) / exports });
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const out = { batchBytes: batch.bytes.length, records: batch.count, compression, rounds, exports };
  for (const m of modes) out[m] = { mainThreadUsPerExport: +median(samples[m].map((s) => s.cpuUs)).toFixed(1), wallUsPerExport: +median(samples[m].map((s) => s.wallUs)).toFixed(1) };
  console.log(JSON.stringify(out));
  for (const m of modes) await exporters[m].shutdown();
} finally {
  clearInterval(keepAlive);
  sink.kill();
}
