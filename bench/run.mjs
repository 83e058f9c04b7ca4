// Side-by-side benchmark: a no-op processor, the OpenTelemetry SDK's processors (defaults, the
// SDK's OTLP/protobuf exporters) and @ccr/otel-processors (defaults, its own OTLP/HTTP sender),
// same sink in another process, same machine, same run; every scenario --runs times, medians.
// The durable spill's write and replay cost (bench/spill.mjs, no processor comparison) runs in the same loop.
//   node bench/run.mjs [--smoke] [--runs 3] [--only burst,sustained,spans,spill] [--rates 25000,...] [--exporters otlp,noop]
//   node bench/run.mjs --from bench/results/latest.json   (tables and charts again from saved results)
//   node bench/run.mjs --only sustained --rates 100000 --runs 5 --processors noop,ccr --compare <dist> --out bench/results/x.json [--start-pause 100]
//     --compare: also runs another build of @ccr/otel-processors (its dist directory, inside the workspace so that
//     its dependencies resolve) as processor "ccr-base", alternating with ours; --out writes the results there
//     (no latest.*, charts or redaction run); --start-pause: sustained emits one record, then its rate this many ms later
// Prints markdown tables and writes bench/results/latest.json, latest.md and SVG charts.
import { readFileSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { barChart, lineChart } from './lib/svg-chart.mjs';
import { spillTable, summarizeSpill } from './lib/spill-summary.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const smoke = flag('--smoke');
let runs = smoke ? 1 : Number(value('--runs', '3'));
const only = value('--only', 'burst,sustained,spans,spill').split(',');
const exporters = value('--exporters', 'otlp').split(',');
const compareDist = value('--compare', undefined);
const processors = [...value('--processors', 'noop,sdk,ccr').split(','), ...(compareDist ? ['ccr-base'] : [])];
const outFile = value('--out', undefined);
// sustained: one record, then the rate this long after it (an application's start before its traffic); default 0
const startPauseMs = Number(value('--start-pause', '0'));
let rates = smoke ? [20_000] : value('--rates', '25000,50000,100000,200000,500000').split(',').map(Number);

function startSink() {
  const child = spawn(process.execPath, [join(here, 'sink.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => resolve({ child, url: `http://127.0.0.1:${JSON.parse(line).port}` }));
    child.once('exit', (code) => reject(new Error(`sink exited with ${code}`)));
  });
}

function runScenario(cfg) {
  if (cfg.processor === 'ccr-base') return { ...runScenario({ ...cfg, processor: 'ccr', processorsDist: compareDist }), processor: 'ccr-base', processorsDist: undefined };
  const out = execFileSync(process.execPath, ['--expose-gc', join(here, 'scenario.mjs'), JSON.stringify(cfg)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? ''));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const from = value('--from', undefined);
const saved = from ? JSON.parse(readFileSync(from, 'utf8')) : undefined;
const results = saved ? saved.results : [];
/** bench/spill.mjs's raw results, one element per run in each list. */
const spillRaw = saved?.spill?.raw ?? { write: [], replay: [], replayLive: [], floor: [], floorLive: [] };
let spillMeta = saved?.spill?.meta;
const started = Date.now();
const sink = saved ? undefined : await startSink();
if (sink) try {
  for (let run = 1; run <= runs; run++) {
    for (const exporter of exporters) {
      const base = { exporter, sinkUrl: sink.url, run };
      if (only.includes('burst')) {
        for (const processor of processors) {
          const r = runScenario({ ...base, kind: 'burst', processor, records: smoke ? 20_000 : 1_000_000, yieldEvery: smoke ? 4096 : 65_536 });
          results.push(r);
          process.stderr.write(`[${run}] burst ${exporter} ${processor}: delivered ${fmt(r.delivered)}\n`);
        }
      }
      if (only.includes('sustained')) {
        for (const rate of rates) {
          for (const processor of processors) {
            const r = runScenario({ ...base, kind: 'sustained', processor, rate, durationMs: smoke ? 100 : 5000, startPauseMs });
            results.push(r);
            process.stderr.write(`[${run}] sustained ${exporter} ${processor} ${rate}/s: ${r.deliveredPct}% (dropped ${JSON.stringify(r.dropped)}) p99 ${r.loopDelayP99Ms} ms, processor tasks: longest ${r.longestTaskMs} ms, p99 ${r.taskP99Ms} ms, ${r.tasksOver1ms}/${r.tasks} over 1 ms (less GC: ${r.longestTaskExGcMs}, ${r.taskExGcP99Ms}, ${r.tasksExGcOver1ms}; on CPU: ${r.longestTaskCpuMs}, ${r.taskCpuP99Ms}, ${r.tasksCpuOver1ms})\n`);
          }
        }
      }
      if (only.includes('spans')) {
        for (const processor of processors) {
          const r = runScenario({ ...base, kind: 'spans', processor, requests: smoke ? 5000 : 500_000 });
          results.push(r);
          process.stderr.write(`[${run}] spans ${exporter} ${processor}: ${fmt(r.opsPerSec)} ops/s, delivered ${fmt(r.delivered)}/${fmt(r.emitted)}\n`);
        }
      }
    }
    if (only.includes('spill')) {
      // 2,000 batches: long enough a replay for the delay histogram; the smoke only checks the accounting
      const out = execFileSync(process.execPath, [join(here, 'spill.mjs'), '--runs', '1', '--json', '--batches', smoke ? '64' : '2000'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 300_000,
      });
      const r = JSON.parse(out.trim().split('\n').pop());
      spillMeta = r.meta;
      for (const k of Object.keys(spillRaw)) spillRaw[k].push(...r.raw[k]);
      const rp = r.raw.replayLive[0];
      process.stderr.write(`[${run}] spill: write ${fmt(Math.round(r.raw.write[0].records / (r.raw.write[0].ms / 1000)))} records/s, replay beside live work ${fmt(Math.round(rp.records / (rp.ms / 1000)))} records/s, loop delay p99 ${rp.p99.toFixed(2)} ms (without replay ${rp.baseP99.toFixed(2)})\n`);
    }
  }
} finally {
  sink.child.kill('SIGTERM');
}
if (saved) {
  runs = Math.max(...results.map((r) => r.run ?? 1));
  rates = [...new Set(results.filter((r) => r.rate).map((r) => r.rate))];
}

/** Medians over runs of every numeric field, per kind/exporter/processor/rate; minDeliveredPct and worst max too. */
function summarize(rs) {
  const groups = new Map();
  for (const r of rs) {
    const key = [r.kind, r.exporter, r.processor, r.rate ?? ''].join('|');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const out = [];
  for (const g of groups.values()) {
    const m = { kind: g[0].kind, exporter: g[0].exporter, processor: g[0].processor, rate: g[0].rate, runs: g.length };
    const keys = new Set(g.flatMap((r) => Object.keys(r)));
    for (const k of keys) {
      const xs = g.map((r) => r[k]).filter((x) => typeof x === 'number');
      if (xs.length && !(k in m)) m[k] = median(xs); // over the runs that measured it
    }
    m.deliveredPct = median(g.map((r) => (100 * r.delivered) / r.emitted));
    m.minDeliveredPct = Math.min(...g.map((r) => (100 * r.delivered) / r.emitted));
    m.zeroLossAllRuns = g.every((r) => r.delivered === r.emitted);
    m.accountedAllRuns = g.every((r) => r.delivered + r.droppedTotal === r.emitted);
    m.worstLoopDelayMaxMs = Math.max(...g.map((r) => r.loopDelayMaxMs));
    m.worstLongestTaskMs = Math.max(...g.map((r) => r.longestTaskMs ?? 0));
    m.worstLongestTaskExGcMs = Math.max(...g.map((r) => r.longestTaskExGcMs ?? 0));
    m.runsWithExGc = g.filter((r) => r.longestTaskExGcMs !== undefined).length;
    out.push(m);
  }
  return out;
}
const medians = summarize(results);
const find = (kind, processor, rate, exporter = exporters.includes('otlp') ? 'otlp' : exporters[0]) =>
  medians.find((m) => m.kind === kind && m.processor === processor && m.exporter === exporter && (rate === undefined || m.rate === rate));

const lines = [`Medians of ${runs} run(s); ${cpus().length} CPUs (${cpus()[0]?.model}), node ${process.version}.`, ''];
const burst = medians.filter((r) => r.kind === 'burst');
if (burst.length) {
  lines.push(`### Burst: ${fmt(burst[0].emitted)} \`logger.emit\`, yielding every ${fmt(burst[0].yieldEvery)}`, '');
  lines.push('| exporter | processor | emits/s | delivered % | all accounted | peak RSS MiB | loop delay p99 / max ms | processor task longest / p99 ms |');
  lines.push('|---|---|---:|---:|---|---:|---:|---:|');
  for (const r of burst)
    lines.push(`| ${r.exporter} | ${r.processor} | ${fmt(Math.round(r.emitsPerSec))} | ${r.deliveredPct.toFixed(2)} | ${r.accountedAllRuns ? 'yes' : 'no'} | ${r.peakRssMiB} | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} | ${r.longestTaskMs} / ${r.taskP99Ms} |`);
  lines.push('');
}
const sus = medians.filter((r) => r.kind === 'sustained');
if (sus.length) {
  lines.push(`### Sustained: fixed rates for ${sus[0].durationMs / 1000} s each`, '');
  lines.push('| exporter | rate/s | processor | achieved rate/s | delivered % (min) | loop delay p99 ms | p99 − no-op ms | loop delay max ms (worst) | max after the first 250 ms | processor task longest ms (worst run) | processor task p99 ms | processor tasks > 1 ms | same less GC: longest / p99 / > 1 ms | same on CPU (less waits for a core): longest / p99 / > 1 ms | process CPU ms |');
  lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of sus) {
    const noop = find('sustained', 'noop', r.rate, r.exporter);
    const dp = noop ? (r.loopDelayP99Ms - noop.loopDelayP99Ms).toFixed(2) : '';
    lines.push(`| ${r.exporter} | ${fmt(r.rate)} | ${r.processor} | ${fmt(Math.round(r.achievedRate))} | ${r.deliveredPct.toFixed(2)} (${r.minDeliveredPct.toFixed(2)}) | ${r.loopDelayP99Ms.toFixed(2)} | ${dp} | ${r.loopDelayMaxMs} (${r.worstLoopDelayMaxMs}) | ${r.loopDelayMaxAfter250Ms ?? ''} | ${r.processor === 'noop' ? '' : `${r.longestTaskMs} (${r.worstLongestTaskMs})`} | ${r.processor === 'noop' ? '' : r.taskP99Ms} | ${r.processor === 'noop' ? '' : `${r.tasksOver1ms} of ${r.tasks}`} | ${r.processor === 'noop' ? '' : `${r.longestTaskExGcMs} / ${r.taskExGcP99Ms} / ${r.tasksExGcOver1ms}`} | ${r.processor === 'noop' ? '' : `${r.longestTaskCpuMs ?? ''} / ${r.taskCpuP99Ms ?? ''} / ${r.tasksCpuOver1ms ?? ''}`} | ${fmt(r.cpuMs)} |`);
  }
  lines.push('');
}
const sp = medians.filter((r) => r.kind === 'spans');
if (sp.length) {
  const sdk = find('spans', 'sdk');
  lines.push(`### Request tracking: ${fmt(sp[0].emitted)} requests (span, one phase started and ended, completed), yielding every 1,000`, '');
  lines.push('| exporter | processor | requests/s | µs per request | vs SDK | delivered % (min) | loop delay p99 / max ms | processor task longest / p99 ms | peak RSS MiB |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of sp)
    lines.push(`| ${r.exporter} | ${r.processor} | ${fmt(Math.round(r.opsPerSec))} | ${r.usPerOp.toFixed(2)} | ${sdk ? (r.opsPerSec / sdk.opsPerSec).toFixed(2) + '×' : ''} | ${r.deliveredPct.toFixed(2)} (${r.minDeliveredPct.toFixed(2)}) | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} | ${r.longestTaskMs} / ${r.taskP99Ms} | ${r.peakRssMiB} |`);
  lines.push('');
}

// The targets of issue 7, evaluated on the medians above.
const targets = [];
if (sus.length) {
  const zeroLoss = (p) => Math.max(0, ...sus.filter((r) => r.processor === p && r.zeroLossAllRuns).map((r) => r.rate));
  const ours = zeroLoss('ccr');
  const theirs = zeroLoss('sdk');
  targets.push(`- Highest rate with zero loss in every run: ours ${fmt(ours)}/s, SDK ${theirs ? fmt(theirs) + '/s (' + (ours / theirs).toFixed(1) + '×)' : `none: it lost records at every rate, the lowest (${fmt(Math.min(...rates))}/s) included`}. Target: 500,000/s and ≥ 10× the SDK.`);
  const c = find('sustained', 'ccr', 100_000);
  const n = find('sustained', 'noop', 100_000);
  if (c && n)
    targets.push(`- At 100,000/s: loop delay p99 ours ${c.loopDelayP99Ms.toFixed(2)} ms vs no-op ${n.loopDelayP99Ms.toFixed(2)} ms (+${(c.loopDelayP99Ms - n.loopDelayP99Ms).toFixed(2)} ms; target ≤ +0.5), max ${c.loopDelayMaxMs} ms (worst run ${c.worstLoopDelayMaxMs}; target ≤ 10).`);
  const longest = Math.max(...sus.filter((r) => r.processor === 'ccr').map((r) => r.worstLongestTaskMs));
  const p99 = Math.max(...sus.filter((r) => r.processor === 'ccr').map((r) => r.taskP99Ms));
  const longestExGc = Math.max(...sus.filter((r) => r.processor === 'ccr').map((r) => r.worstLongestTaskExGcMs));
  const p99ExGc = Math.max(...sus.filter((r) => r.processor === 'ccr').map((r) => r.taskExGcP99Ms));
  const oursCpu = sus.filter((r) => r.processor === 'ccr' && r.longestTaskCpuMs !== undefined);
  const onCpu = oursCpu.length ? `; on CPU (less the time the thread waited for a core): longest ${Math.max(...oursCpu.map((r) => r.longestTaskCpuMs))} ms (median of runs, any rate), p99 at most ${Math.max(...oursCpu.map((r) => r.taskCpuP99Ms))} ms, ${oursCpu.map((r) => r.tasksCpuOver1ms).join(' / ')} over 1 ms (by rate, median of runs)` : '';
  targets.push(`- Processor tasks (ours, any rate), wall time: longest ${longest} ms (worst run, any rate), p99 (median of runs) at most ${p99} ms; less the GC pauses inside them: longest ${longestExGc} ms, p99 at most ${p99ExGc} ms${onCpu} (target: none over 1 ms).`);
}
if (sp.length) {
  const c = find('spans', 'ccr');
  const s = find('spans', 'sdk');
  if (c && s)
    targets.push(`- Request tracking: ours ${fmt(Math.round(c.opsPerSec))}/s, zero loss in every run: ${c.zeroLossAllRuns ? 'yes' : 'no'} (target ≥ 250,000/s, zero loss); ${c.usPerOp.toFixed(2)} µs per request vs the SDK's ${s.usPerOp.toFixed(2)} µs (${(s.usPerOp / c.usPerOp).toFixed(2)}× faster).`);
}
const spill = spillRaw.write.length ? summarizeSpill(spillRaw, spillMeta) : undefined;
if (spill) {
  lines.push(...spillTable(spill));
  const live = spill.replayWithLive;
  targets.push(`- Spill (issue 8): written at ${fmt(Math.round(spill.write.recordsPerSec))} records/s, replayed at ${fmt(Math.round(live.recordsPerSec))} records/s beside 100k records/s of live work, event-loop delay p99 meanwhile ${live.eldP99Ms.toFixed(2)} ms against ${live.baselineEldP99Ms.toFixed(2)} ms over the same span without replay (${(live.eldP99Ms - live.baselineEldP99Ms).toFixed(2)} ms).`);
}
if (targets.length) lines.push('### Targets', '', ...targets, '');

// redaction cost per record and per request (the preload's redacting processors; bench/redaction.mjs)
const redaction = saved || outFile ? saved?.redaction : JSON.parse(execFileSync(process.execPath, [join(here, 'redaction.mjs'), '--json', ...(smoke ? ['--smoke'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim().split('\n').pop());
if (redaction) {
lines.push(`### Redaction cost: the same work with and without the redacting processors, median of ${redaction.rounds} rounds (bench/redaction.mjs)`, '');
lines.push('| what | without µs | with µs | redaction µs per op |');
lines.push('|---|---:|---:|---:|');
for (const r of redaction.results) lines.push(`| ${r.name} | ${(r.baseNs / 1000).toFixed(2)} | ${(r.redactedNs / 1000).toFixed(2)} | ${(r.costNs / 1000).toFixed(2)} |`);
lines.push('');
}

const table = lines.join('\n');
process.stdout.write(table + '\n');
const meta = saved ? { ...saved.meta, rendered: new Date().toISOString() } : { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), smoke, runs, seconds: Math.round((Date.now() - started) / 1000) };
const dir = join(here, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(outFile ?? join(dir, smoke ? 'smoke.json' : 'latest.json'), JSON.stringify({ meta, medians, results, redaction, spill: spill && { meta: spillMeta, summary: spill, raw: spillRaw } }, null, 2) + '\n');
if (!smoke && !outFile) {
  writeFileSync(join(dir, 'latest.md'), table + '\n');
  if (sus.length) {
    const series = (field) =>
      processors.map((p) => ({ name: p === 'ccr' ? '@ccr/otel-processors' : p === 'sdk' ? 'SDK BatchLogRecordProcessor' : 'no-op processor', points: sus.filter((r) => r.processor === p).map((r) => [r.rate, r[field]]) }));
    writeFileSync(join(dir, 'sustained-delivered.svg'), lineChart({ title: `Logs delivered to an OTLP sink (median of ${runs})`, xLabel: 'records/s offered', yLabel: 'delivered %', logX: true, yMin: 0, yMax: 100, series: series('deliveredPct') }));
    writeFileSync(join(dir, 'sustained-loop-p99.svg'), lineChart({ title: `Event-loop delay p99 while logging (median of ${runs})`, xLabel: 'records/s offered', yLabel: 'p99 ms', logX: true, logY: true, series: series('loopDelayP99Ms') }));
  }
  if (spill) {
    const { replay, replayWithLive: live, floor, floorWithLive } = spill;
    writeFileSync(join(dir, 'spill-loop-p99.svg'), barChart({
      title: `Event-loop delay p99 while the spill replays (median of ${spill.runs})`,
      yLabel: 'p99 ms',
      groups: ['replay alone', 'beside 100k records/s live'],
      series: [
        { name: 'spill replay', values: [replay.eldP99Ms, live.eldP99Ms] },
        { name: 'same span, no replay', values: [replay.baselineEldP99Ms, live.baselineEldP99Ms] },
        { name: 'bare reads + CRC-32', values: [floor.eldP99Ms, floorWithLive.eldP99Ms] },
      ],
    }));
    writeFileSync(join(dir, 'spill-throughput.svg'), barChart({
      title: `Durable spill throughput (median of ${spill.runs})`,
      yLabel: 'million records/s',
      groups: ['write', 'replay', 'replay + live', 'bare reads', 'reads + live'],
      series: [{ name: 'records/s (M)', values: [spill.write, replay, live, floor, floorWithLive].map((x) => x.recordsPerSec / 1e6) }],
    }));
  }
}
