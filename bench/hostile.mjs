// What the hostile-input guards cost per call, side by side: child processes alternate between the
// SDK's own span methods and guardSpanMethods installed (a process each, so that no method is swapped
// under V8's feet), RUNS of each; in each, medians of ROUNDS rounds after 3 warm-up rounds; printed:
// the median over the processes.
//  - span methods: setAttribute, setAttributes, addEvent, updateName, startSpan+end;
//  - the encoder: a typical log record (bench/scenario.mjs's) with no value limits and with the
//    default limits (maxValueBytes 1 MiB: one length comparison per string).
//   npm run build && node bench/hostile.mjs
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.RUNS || 5);
if (!process.env.HOSTILE_BENCH_MODE) {
  const all = {};
  for (let r = 0; r < RUNS; r++) {
    for (const mode of r % 2 ? ['sdk', 'guarded'] : ['guarded', 'sdk']) {
      const out = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, HOSTILE_BENCH_MODE: mode }, encoding: 'utf8' }));
      for (const [k, v] of Object.entries(out)) (all[k] ??= []).push(v);
    }
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  const out = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, med(v)]));
  for (const name of ['setAttribute', 'setAttributes', 'addEvent', 'updateName', 'startSpan+end']) {
    const s = out[`${name} sdk`], g = out[`${name} guarded`];
    console.log(`${name.padEnd(14)} sdk ${s.toFixed(1).padStart(7)} ns  guarded ${g.toFixed(1).padStart(7)} ns  ${g >= s ? '+' : ''}${(g - s).toFixed(1)} ns (x${(g / s).toFixed(3)})`);
  }
  const u = out['encode log record unlimited'], l = out['encode log record limited'];
  console.log(`encode log record: no limits ${u.toFixed(1)} ns, default limits ${l.toFixed(1)} ns (x${(l / u).toFixed(3)})`);
  console.log(`(${RUNS} processes per mode; in each, the median of ${process.env.ROUNDS || 15} rounds of ${process.env.N || 200000} calls after 3 warm-up rounds)`);
  process.exit(0);
}

const require = createRequire(new URL('../packages/otel-setup/package.json', import.meta.url));
const { TracerProvider, AlwaysOnSampler } = require('@opentelemetry/sdk-trace');
const { guardSpanMethods } = require('./dist/span-guards.js');
const { RecordEncoder, ProtoWriter, NO_VALUE_LIMITS, BATCHING_DEFAULTS } = require('@ccr/otel-processors');

const ROUNDS = Number(process.env.ROUNDS || 15);
const N = Number(process.env.N || 200_000);
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];

const provider = new TracerProvider({ sampler: new AlwaysOnSampler() }); // no processors: the methods alone
const tracer = provider.getTracer('bench');
const attrs = { 'http.route': '/v1/messages', 'ccr.request.id': 12345, ok: true };

const spanCases = {
  setAttribute: (span) => span.setAttribute('k', 'v'),
  setAttributes: (span) => span.setAttributes(attrs),
  addEvent: (span) => span.addEvent('e', attrs),
  updateName: (span) => span.updateName('name'),
};

function spanRound(fn) {
  const span = tracer.startSpan('s');
  span.events.length = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    fn(span);
    if ((i & 63) === 63) span.events.length = 0; // addEvent: keep the event list short
  }
  return Number(process.hrtime.bigint() - t0) / N;
}
function startEndRound() {
  const n = N / 10;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) tracer.startSpan('s').end();
  return Number(process.hrtime.bigint() - t0) / n;
}

const rec = {
  hrTime: [1_700_000_000, 123_456_789], hrTimeObserved: [1_700_000_000, 123_456_789],
  severityNumber: 9, severityText: 'INFO', body: 'request forwarded to provider',
  attributes: { 'ccr.request.id': 12345, 'http.route': '/v1/messages', 'gen_ai.request.model': 'claude-sonnet' },
  droppedAttributesCount: 0,
};
const encoders = { unlimited: new RecordEncoder(NO_VALUE_LIMITS), limited: new RecordEncoder(BATCHING_DEFAULTS) };
function encodeRound(e) {
  const w = new ProtoWriter();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    w.reset();
    e.logRecord(w, rec);
  }
  return Number(process.hrtime.bigint() - t0) / N;
}

const res = {};
const add = (k, v) => (res[k] ??= []).push(v);
const mode = process.env.HOSTILE_BENCH_MODE;
if (mode === 'guarded') guardSpanMethods(() => undefined);
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(spanCases)) add(`${name} ${mode}`, spanRound(fn));
  add(`startSpan+end ${mode}`, startEndRound());
  for (const k of r % 2 ? ['unlimited', 'limited'] : ['limited', 'unlimited']) add(`encode log record ${k}`, encodeRound(encoders[k]));
}
const out = {};
for (const [k, v] of Object.entries(res)) out[k] = median(v.slice(3));
process.stdout.write(JSON.stringify(out));
