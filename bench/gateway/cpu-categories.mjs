#!/usr/bin/env node
// Where each gateway variant spends its CPU, by part, per request: the self time of the CPU profiles
// that `run.mjs --cpu-prof DIR` writes, grouped by the file each sampled function comes from (our
// request tracking, GenAI reading, encoder...; the SDK, the instrumentations, node's own modules, GC),
// divided by the requests the variant answered (from the run's JSON). Several runs: medians per part.
// Use the unbundled build for ours (`--alt-preload packages/otel-setup/dist/preload.js`, variant `alt`):
// the bundle is one file, so its functions cannot be told apart by file.
//
//   node bench/gateway/run.mjs --runs 1 --rates 300 --alt-preload packages/otel-setup/dist/preload.js \
//     --variants bare,alt,register --cpu-prof /tmp/prof/r1 --out /tmp/prof/r1.json --svg /tmp/prof/r1.svg
//   (again for r2, r3), then
//   node bench/gateway/cpu-categories.mjs /tmp/prof/r1 /tmp/prof/r2 /tmp/prof/r3
//
// Samples in the first --skip seconds (default 5: start-up, before the driver's idle measurement
// ends and traffic starts) are left out. The profiler itself adds CPU (about 40 ms/s at run.mjs's
// 250 µs interval), so compare variants within a run, not with run.mjs's own figures.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args, positionals: dirs } = parseArgs({ options: { skip: { type: 'string' } }, allowPositionals: true });
if (!dirs.length) {
  process.stderr.write('usage: cpu-categories.mjs [--skip S] DIR... (each: run.mjs --cpu-prof DIR, its JSON at DIR.json)\n');
  process.exit(2);
}
const skipUs = Number(args.skip ?? 5) * 1e6;

/** Parts by a substring of the script's URL, the first match winning (ours before the packages'). */
const PARTS = [
  ['otel-setup/dist/genai/', 'ours: GenAI reading'],
  ['otel-setup/dist/request-tracking', 'ours: request tracking'],
  ['otel-setup/dist/http-server-span', 'ours: server span'],
  ['otel-setup/dist/redact', 'ours: redaction'],
  ['otel-setup/dist/', 'ours: other'],
  ['processors/dist/otlp-encoder', 'ours: encoder'],
  ['processors/dist/proto-writer', 'ours: encoder'],
  ['processors/dist/', 'ours: processors, tracker, histograms'],
  ['instrumentation-undici', 'instrumentation-undici'],
  ['instrumentation-http', 'instrumentation-http'],
  ['/instrumentation/', 'instrumentation base'],
  ['otlp-transformer', 'SDK OTLP exporters'],
  ['otlp-exporter', 'SDK OTLP exporters'],
  ['/exporter-', 'SDK OTLP exporters'],
  ['sdk-metrics', 'SDK metrics'],
  ['sdk-trace', 'SDK trace'],
  ['context-async-hooks', 'SDK context manager'],
  ['@opentelemetry/core', 'SDK core'],
  ['@opentelemetry/api', 'API'],
  ['@opentelemetry', 'other OpenTelemetry'],
  ['bench/gateway/', 'the gateway itself'],
  ['node:internal/deps/undici', 'node: undici (fetch)'],
];

/** The part a profile node's function belongs to, from its script's URL. */
function partOf({ url, functionName }) {
  if (!url) return functionName.startsWith('(') ? functionName : 'V8 builtins and native';
  for (const [k, v] of PARTS) if (url.includes(k)) return v;
  if (url.startsWith('node:')) return 'node: ' + (/^node:(?:internal\/)?([a-z_]+)/.exec(url)?.[1] ?? 'other');
  return 'other';
}

/** µs of self time per request, by part, of one profile. */
function parts(file, requests) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  // a node's part once, not per sample; the idle time is no part
  const partById = new Map(p.nodes.map((n) => [n.id, n.callFrame.functionName === '(idle)' ? undefined : partOf(n.callFrame)]));
  const out = new Map();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    if (t - p.startTime < skipUs) continue;
    const part = partById.get(p.samples[i]);
    if (part !== undefined) out.set(part, (out.get(part) ?? 0) + (p.timeDeltas[i + 1] ?? 0) / requests);
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const runs = new Map(); // variant -> [Map(part -> µs)]
let order = [];
for (const dir of dirs) {
  const run = JSON.parse(readFileSync(`${dir.replace(/\/$/, '')}.json`, 'utf8'));
  order = run.options?.variants ?? order;
  for (const f of readdirSync(dir).filter((x) => /-\d+-\d+\.cpuprofile$/.test(x))) {
    // run.mjs names them VARIANT-RATE-TIME.cpuprofile
    const [, variant, rate] = /^(.*)-(\d+)-\d+\.cpuprofile$/.exec(f) ?? [];
    const r = run.results.find((x) => x.variant === variant && x.rate === Number(rate));
    if (!r) throw new Error(`${dir}: no result for ${variant} at ${rate}/s in ${dir}.json`);
    const key = run.options.rates.length > 1 ? `${variant} ${rate}/s` : variant;
    if (!runs.has(key)) runs.set(key, []);
    runs.get(key).push(parts(join(dir, f), r.answered));
  }
}
// in the run's order (bare first)
const rank = (v) => {
  const i = order.indexOf(v.replace(/ \d+\/s$/, ''));
  return i < 0 ? order.length : i;
};
const variants = [...runs.keys()].sort((a, b) => rank(a) - rank(b));
const allParts = [...new Set(variants.flatMap((v) => runs.get(v).flatMap((m) => [...m.keys()])))];
const med = (v, part) => median(runs.get(v).map((m) => m.get(part) ?? 0));
const rows = allParts.map((part) => [part, ...variants.map((v) => med(v, part))]).filter((r) => r.slice(1).some((x) => x >= 1));
rows.sort((a, b) => Math.max(...b.slice(1)) - Math.max(...a.slice(1)));
const totals = variants.map((v) => median(runs.get(v).map((m) => [...m.values()].reduce((s, x) => s + x, 0))));
console.log(`CPU self time per request, µs (medians of ${dirs.length} run(s); parts under 1 µs left out)\n`);
console.log(`| part | ${variants.join(' | ')} |`);
console.log(`| --- | ${variants.map(() => '---:').join(' | ')} |`);
for (const [part, ...xs] of rows) console.log(`| ${part} | ${xs.map((x) => x.toFixed(1)).join(' | ')} |`);
console.log(`| **all** | ${totals.map((x) => `**${x.toFixed(1)}**`).join(' | ')} |`);
