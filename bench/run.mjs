// Side-by-side benchmark: the OpenTelemetry SDK's processors (defaults) against
// @ccr/otel-processors (defaults), same exporter, same machine, same run.
//   node bench/run.mjs [--smoke] [--only burst,sustained,spans] [--exporters noop,otlp]
// Prints a markdown table and writes bench/results/latest.json.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const smoke = flag('--smoke');
const only = value('--only', 'burst,sustained,spans').split(',');
const exporters = value('--exporters', smoke ? 'otlp' : 'noop,otlp').split(',');
const processors = ['sdk', 'ccr'];
const rates = smoke ? [20_000] : value('--rates', '50000,100000,200000,400000').split(',').map(Number);

function startSink() {
  const child = spawn(process.execPath, [join(here, 'sink.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => resolve({ child, url: `http://127.0.0.1:${JSON.parse(line).port}` }));
    child.once('exit', (code) => reject(new Error(`sink exited with ${code}`)));
  });
}

function runScenario(cfg) {
  const out = execFileSync(process.execPath, ['--expose-gc', join(here, 'scenario.mjs'), JSON.stringify(cfg)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? ''));
const drops = (d) => Object.entries(d).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || '0';

const sink = await startSink();
const results = [];
const started = Date.now();
try {
  for (const exporter of exporters) {
    const base = { exporter, sinkUrl: sink.url };
    if (only.includes('burst')) {
      for (const processor of processors) {
        const r = runScenario({ ...base, kind: 'burst', processor, records: smoke ? 20_000 : 1_000_000, yieldEvery: smoke ? 4096 : 65_536 });
        results.push(r);
        process.stderr.write(`burst ${exporter} ${processor}: delivered ${fmt(r.delivered)}\n`);
      }
    }
    if (only.includes('sustained')) {
      for (const rate of rates) {
        for (const processor of processors) {
          const r = runScenario({ ...base, kind: 'sustained', processor, rate, durationMs: smoke ? 100 : 5000 });
          results.push(r);
          process.stderr.write(`sustained ${exporter} ${processor} ${rate}/s: ${r.deliveredPct}%\n`);
        }
      }
    }
    if (only.includes('spans')) {
      for (const processor of processors) {
        const r = runScenario({ ...base, kind: 'spans', processor, requests: smoke ? 5000 : 500_000 });
        results.push(r);
        process.stderr.write(`spans ${exporter} ${processor}: delivered ${fmt(r.delivered)}\n`);
      }
    }
  }
} finally {
  sink.child.kill('SIGTERM');
}

const lines = [];
const burst = results.filter((r) => r.kind === 'burst');
if (burst.length) {
  lines.push(`### Burst: ${fmt(burst[0].emitted)} \`logger.emit\`, yielding every ${fmt(burst[0].yieldEvery)}`, '');
  lines.push('| exporter | processor | emits/s | delivered | dropped (by reason) | delivered + dropped = emitted | peak RSS MiB | loop delay p99 / max ms | GC count / ms |');
  lines.push('|---|---|---:|---:|---|---|---:|---:|---:|');
  for (const r of burst)
    lines.push(`| ${r.exporter} | ${r.processor} | ${fmt(r.emitsPerSec)} | ${fmt(r.delivered)} | ${drops(r.dropped)} | ${r.delivered + r.droppedTotal === r.emitted ? 'yes' : `no (${fmt(r.emitted - r.delivered - r.droppedTotal)} unaccounted)`} | ${r.peakRssMiB} | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} | ${r.gcCount} / ${r.gcMillis} |`);
  lines.push('');
}
const sus = results.filter((r) => r.kind === 'sustained');
if (sus.length) {
  lines.push(`### Sustained: fixed rates for ${sus[0].durationMs / 1000} s each`, '');
  lines.push('| exporter | processor | rate/s | delivered % | dropped | loop delay p99 / max ms | peak RSS MiB | GC count / ms |');
  lines.push('|---|---|---:|---:|---|---:|---:|---:|');
  for (const r of sus)
    lines.push(`| ${r.exporter} | ${r.processor} | ${fmt(r.rate)} | ${r.deliveredPct} | ${drops(r.dropped)} | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} | ${r.peakRssMiB} | ${r.gcCount} / ${r.gcMillis} |`);
  lines.push('');
}
const sp = results.filter((r) => r.kind === 'spans');
if (sp.length) {
  lines.push(`### Request tracking: ${fmt(sp[0].emitted)} requests (span, one phase started and ended, completed), yielding every 1,000`, '');
  lines.push('| exporter | processor | ops/s | delivered | dropped | loop delay p99 / max ms | peak RSS MiB |');
  lines.push('|---|---|---:|---:|---|---:|---:|');
  for (const r of sp)
    lines.push(`| ${r.exporter} | ${r.processor} | ${fmt(r.opsPerSec)} | ${fmt(r.delivered)} | ${drops(r.dropped)} | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} | ${r.peakRssMiB} |`);
  lines.push('');
}
// redaction cost per record and per request (the preload's redacting processors; bench/redaction.mjs)
const redaction = JSON.parse(execFileSync(process.execPath, [join(here, 'redaction.mjs'), '--json', ...(smoke ? ['--smoke'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim().split('\n').pop());
lines.push(`### Redaction cost: the same work with and without the redacting processors, median of ${redaction.rounds} rounds (bench/redaction.mjs)`, '');
lines.push('| what | without µs | with µs | redaction µs per op |');
lines.push('|---|---:|---:|---:|');
for (const r of redaction.results) lines.push(`| ${r.name} | ${(r.baseNs / 1000).toFixed(2)} | ${(r.redactedNs / 1000).toFixed(2)} | ${(r.costNs / 1000).toFixed(2)} |`);
lines.push('');
const table = lines.join('\n');
process.stdout.write(table + '\n');
const meta = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), smoke, seconds: Math.round((Date.now() - started) / 1000) };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', smoke ? 'smoke.json' : 'latest.json'), JSON.stringify({ meta, results, redaction }, null, 2) + '\n');
