// Gateway benchmark: the same CCR-like gateway (gateway.cjs) bare, under our preload and under the
// stock auto-instrumentations register, at fixed request rates, side by side in one run: all the
// variants' gateways run at once and the load goes to each in turn, in short windows whose order
// rotates (measureRate). Each gateway exports OTLP to a counting sink of its own.
//
//   node bench/gateway/run.mjs [--runs 3] [--rates 300,1000] [--duration 20] [--window 2]
//        [--warmup 3] [--settle 3] [--idle 3] [--variants bare,ccr,register]
//        [--out bench/results/gateway-latest.json] [--svg path] [--cpu-prof DIR]
//        [--alt-preload PATH] [--smoke]
//
// --alt-preload adds the variant `alt`: the preload at PATH (e.g. a copy of an earlier build), to
// compare a change side by side. A variant `name+KEY=VALUE` is `name` with extra environment.
//
// Per variant and rate: gateway CPU per request (process.cpuUsage() asked over IPC, from the first
// load window to the delivery of the last span, less the idle CPU of the time others were loaded,
// divided by the requests answered in its windows), latency p50/p99 (from each request's due
// time), idle RSS (after start-up settles, before any traffic) and the spans its sink received.
import { fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listeningPort } from '../lib/port-child.mjs';
import { drive, newAgent, percentile } from './load.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(join(here, '..', 'package.json'));

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string' },
    rates: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    settle: { type: 'string' },
    window: { type: 'string' },
    idle: { type: 'string' },
    variants: { type: 'string' },
    out: { type: 'string' },
    svg: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'alt-preload': { type: 'string' },
    smoke: { type: 'boolean', default: false },
  },
});
const smoke = args.smoke;
const opts = {
  runs: Number(args.runs ?? (smoke ? 1 : 3)),
  rates: (args.rates ?? (smoke ? '50' : '300,1000')).split(',').map(Number),
  durationMs: Number(args.duration ?? (smoke ? 1.5 : 20)) * 1000,
  warmupMs: Number(args.warmup ?? (smoke ? 0.5 : 3)) * 1000,
  settleMs: Number(args.settle ?? (smoke ? 1 : 3)) * 1000,
  // load windows: each variant is loaded for `duration` in all, in windows of this length, in turn
  windowMs: Number(args.window ?? (smoke ? 0.5 : 2)) * 1000,
  // how long each gateway's idle CPU is measured (after settle, before any traffic; the least 1 s sample counts)
  idleMs: Number(args.idle ?? (smoke ? 0.5 : 5)) * 1000,
  variants: (args.variants ?? 'bare,ccr,register').split(','),
};
// a smoke run's figures mean nothing: by default they go to the temporary directory, not bench/results
const outFile = args.out ?? (smoke ? join(tmpdir(), 'ccr-otel-gateway-smoke.json') : join(root, 'bench', 'results', 'gateway-latest.json'));

/** How each variant is started; `spansPerRequest` is what a complete trace of one request holds. */
const VARIANTS = {
  bare: { execArgv: [], env: {}, spansPerRequest: 0 },
  // the preload with its defaults, loaded from this repository as the README says
  ccr: { execArgv: ['-r', join(root, 'packages', 'otel-setup')], env: {}, spansPerRequest: 2 },
  register: {
    execArgv: ['-r', require.resolve('@opentelemetry/auto-instrumentations-node/register')],
    env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici' },
    spansPerRequest: 2,
  },
};
// `name+KEY=VALUE+…`: a known variant with extra environment (to measure what a part costs)
if (args['alt-preload']) VARIANTS.alt = { ...VARIANTS.ccr, execArgv: ['-r', resolve(args['alt-preload'])] };
for (const v of opts.variants) {
  const [base, ...envs] = v.split('+');
  if (!VARIANTS[base]) throw new Error(`unknown variant ${base} (known: ${Object.keys(VARIANTS).join(', ')})`);
  if (envs.length) VARIANTS[v] = { ...VARIANTS[base], env: { ...VARIANTS[base].env, ...Object.fromEntries(envs.map((e) => e.split('='))) } };
}

const BODIES = [
  { model: 'claude-sonnet-4', max_tokens: 256, stream: false, messages: [{ role: 'user', content: 'Say hello in one short sentence, please.' }] },
  { model: 'claude-haiku', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Say hello in one short sentence, please.' }] },
].map((b) => Buffer.from(JSON.stringify(b)));
const HEADERS = { 'content-type': 'application/json', 'x-api-key': 'sk-ant-bench-secret-0000', 'anthropic-version': '2023-06-01' };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref?.());

/** Starts a script that prints {"port"} on its first line. */
function startChild(script) {
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  return listeningPort(child, script);
}

async function sinkCount(port) {
  return (await fetch(`http://127.0.0.1:${port}/count`)).json();
}

function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_') || k.startsWith('CCR_OTEL_') || k === 'NODE_OPTIONS' || k === 'NODE_ENV') delete env[k];
  return env;
}

/** Asks the gateway for its own counters over IPC. */
function ask(child) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('gateway did not answer')), 10_000);
    child.once('message', (m) => (clearTimeout(t), resolve(m)));
    child.send('stats');
  });
}

/** Starts one variant's gateway, with a sink of its own (so its spans are counted apart), and waits until it listens. */
async function startGateway(variant, rate, ctx) {
  const v = VARIANTS[variant];
  const execArgv = [...v.execArgv];
  if (args['cpu-prof']) execArgv.push('--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${args['cpu-prof']}`, `--cpu-prof-name=${variant}-${rate}-${Date.now()}.cpuprofile`);
  const sink = await startChild(join(root, 'bench', 'sink.mjs'));
  const gw = fork(join(here, 'gateway.cjs'), [], {
    execArgv,
    env: { ...cleanEnv(), ...v.env, UPSTREAM_URL: `http://127.0.0.1:${ctx.upstreamPort}`, OTEL_SERVICE_NAME: 'bench-gateway', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.port}` },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const g = { variant, v, gw, sink, exited: new Promise((r) => gw.once('exit', r)), agent: newAgent(), latencies: [], windows: [], ok: 0, sent: 0, failed: 0, answered: 0, loadedMs: 0 };
  const { port } = await new Promise((resolve, reject) => {
    gw.once('message', resolve);
    gw.once('exit', (c) => reject(new Error(`gateway (${variant}) exited with ${c} before it was ready`)));
  });
  g.port = port;
  return g;
}

async function stopGateway(g) {
  g.agent.destroy();
  if (g.gw.connected) g.gw.send('stop');
  const t = setTimeout(() => g.gw.kill('SIGKILL'), 10_000);
  await g.exited;
  clearTimeout(t);
  g.sink.child.kill();
}

const cpuMs = (s) => (s.cpu.user + s.cpu.system) / 1000;

/**
 * All variants at one rate, interleaved: every gateway is up at once and the load goes to one at a
 * time, in windows of `windowMs` whose order rotates each round, so a drift of the shared machine's
 * speed falls on every variant alike (run one after another, the variants differed by up to 20 %
 * between runs from the machine alone). A gateway's CPU is counted from the first window to the
 * delivery of its last span, so export work done while another variant is loaded is counted too;
 * the CPU it spends idle while the others are loaded (its idle rate, measured before any traffic,
 * times the time it was not loaded) is taken off.
 */
async function measureRate(rate, run, ctx) {
  const order = opts.variants.map((_, i) => opts.variants[(i + run) % opts.variants.length]);
  const gws = [];
  try {
    for (const variant of order) gws.push(await startGateway(variant, rate, ctx));
    await sleep(opts.settleMs);
    for (const g of gws) g.idle = await ask(g.gw);
    // idle CPU rate: the least of 1 s samples (a neighbour's burst on the shared machine inflates a sample, never deflates it)
    for (const g of gws) g.idleCpuPerMs = Infinity;
    for (let t = 0; t < Math.max(1, Math.round(opts.idleMs / 1000)); t++) {
      const at = await Promise.all(gws.map((g) => ask(g.gw)));
      const t0 = performance.now();
      await sleep(Math.min(1000, opts.idleMs));
      const after = await Promise.all(gws.map((g) => ask(g.gw)));
      const dt = performance.now() - t0;
      gws.forEach((g, i) => (g.idleCpuPerMs = Math.min(g.idleCpuPerMs, (cpuMs(after[i]) - cpuMs(at[i])) / dt)));
    }
    const load = (g, durationMs) => drive({ port: g.port, path: '/v1/messages', rate, bodies: BODIES, headers: HEADERS, agent: g.agent, durationMs });
    for (const g of gws) if (opts.warmupMs > 0) g.answered += (await load(g, opts.warmupMs)).ok;
    const phaseStart = performance.now();
    for (const g of gws) g.before = await ask(g.gw);
    const rounds = Math.max(1, Math.round(opts.durationMs / opts.windowMs));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < gws.length; i++) {
        const g = gws[(i + round) % gws.length];
        const t0 = performance.now();
        const r = await load(g, opts.windowMs);
        g.loadedMs += performance.now() - t0;
        g.sent += r.sent;
        g.ok += r.ok;
        g.failed += r.failed;
        g.answered += r.ok;
        g.latencies.push(r.latenciesMs);
        const wl = Float64Array.from(r.latenciesMs).sort();
        g.windows.push({ round, startMs: t0 - phaseStart, p99Ms: percentile(wl, 99), maxMs: wl.length ? wl[wl.length - 1] : NaN });
      }
    }
    // wait for the spans of every answered request (the stock BatchSpanProcessor waits up to 5 s)
    const deadline = Date.now() + 8000;
    for (const g of gws) {
      g.traces = 0;
      if (g.v.spansPerRequest > 0) {
        const want = g.answered * g.v.spansPerRequest;
        while ((g.traces = (await sinkCount(g.sink.port)).traces) < want && Date.now() < deadline) await sleep(250);
      }
    }
    for (const g of gws) g.after = await ask(g.gw);
    const phaseMs = performance.now() - phaseStart;
    return gws.map((g) => {
      const idleCpu = Math.max(0, g.idleCpuPerMs) * Math.max(0, phaseMs - g.loadedMs);
      const cpu = cpuMs(g.after) - cpuMs(g.before) - idleCpu;
      const lat = Float64Array.from(g.latencies.flatMap((l) => Array.from(l))).sort();
      return {
        variant: g.variant,
        rate,
        requests: g.sent,
        ok: g.ok,
        failed: g.failed,
        cpuPerRequestMs: g.ok ? cpu / g.ok : NaN,
        idleCpuMsPerS: g.idleCpuPerMs * 1000,
        latencyP50Ms: percentile(lat, 50),
        latencyP99Ms: percentile(lat, 99),
        latencyMaxMs: lat.length ? lat[lat.length - 1] : NaN,
        idleRssMiB: g.idle.rss / 2 ** 20,
        idleRssAnonMiB: g.idle.rssAnon / 2 ** 20,
        endRssMiB: g.after.rss / 2 ** 20,
        answered: g.answered,
        spansDelivered: g.traces,
        spansPerRequest: g.answered ? g.traces / g.answered : 0,
        windows: g.windows,
      };
    });
  } finally {
    await Promise.all(gws.map(stopGateway));
  }
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summarize(results) {
  const rows = [];
  for (const rate of opts.rates) {
    for (const variant of opts.variants) {
      const rs = results.filter((r) => r.rate === rate && r.variant === variant);
      const m = (k) => median(rs.map((r) => r[k]));
      rows.push({
        rate, variant, runs: rs.length,
        cpuPerRequestMs: m('cpuPerRequestMs'), latencyP50Ms: m('latencyP50Ms'), latencyP99Ms: m('latencyP99Ms'),
        idleRssMiB: m('idleRssMiB'), idleRssAnonMiB: m('idleRssAnonMiB'), spansPerRequest: m('spansPerRequest'), failed: rs.reduce((a, r) => a + r.failed, 0),
      });
    }
  }
  // ratios within each run (the machine is shared: only same-run comparisons mean much), then medians
  const ratios = [];
  for (const rate of opts.rates) {
    const per = [];
    for (let run = 0; run < opts.runs; run++) {
      const get = (v) => results.find((r) => r.run === run && r.rate === rate && r.variant === v);
      const bare = get('bare'), ccr = get('ccr'), reg = get('register');
      if (!bare || !ccr || !reg) continue;
      per.push({
        addedCpuCcrMs: ccr.cpuPerRequestMs - bare.cpuPerRequestMs,
        addedCpuRegisterMs: reg.cpuPerRequestMs - bare.cpuPerRequestMs,
        addedCpuRatio: (ccr.cpuPerRequestMs - bare.cpuPerRequestMs) / (reg.cpuPerRequestMs - bare.cpuPerRequestMs),
        p99OverBareMs: ccr.latencyP99Ms - bare.latencyP99Ms,
        registerP99OverBareMs: reg.latencyP99Ms - bare.latencyP99Ms,
        idleRssOverBareMiB: ccr.idleRssMiB - bare.idleRssMiB,
        registerIdleRssOverBareMiB: reg.idleRssMiB - bare.idleRssMiB,
        idleRssAnonOverBareMiB: ccr.idleRssAnonMiB - bare.idleRssAnonMiB,
        registerIdleRssAnonOverBareMiB: reg.idleRssAnonMiB - bare.idleRssAnonMiB,
      });
    }
    if (!per.length) continue;
    const out = { rate, runs: per.length };
    for (const k of Object.keys(per[0])) out[k] = median(per.map((p) => p[k]));
    out.perRun = per;
    ratios.push(out);
  }
  return { rows, ratios };
}

const COLORS = { bare: '#9e9e9e', ccr: '#2e7d32', register: '#1565c0', alt: '#f9a825' };

/** A grouped bar chart: CPU per request for each variant, grouped by rate. */
function svgChart(rows) {
  const W = 560, H = 300, left = 60, bottom = 40, top = 40, barW = 36, gap = 60;
  const max = Math.max(...rows.map((r) => r.cpuPerRequestMs).filter(Number.isFinite), 0.1) * 1.15;
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Gateway CPU per request (ms, median of ${opts.runs} runs)</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(`<line x1="${left}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`, `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  let x = left + 20;
  for (const rate of opts.rates) {
    const group = rows.filter((r) => r.rate === rate);
    group.forEach((r, i) => {
      const bx = x + i * (barW + 6);
      const v = Number.isFinite(r.cpuPerRequestMs) ? r.cpuPerRequestMs : 0;
      parts.push(`<rect x="${bx}" y="${y(v)}" width="${barW}" height="${y(0) - y(v)}" fill="${COLORS[r.variant] ?? '#555'}"/>`,
        `<text x="${bx + barW / 2}" y="${y(v) - 4}" text-anchor="middle">${v.toFixed(3)}</text>`);
    });
    const gw = group.length * (barW + 6) - 6;
    parts.push(`<text x="${x + gw / 2}" y="${H - bottom + 16}" text-anchor="middle">${rate} req/s</text>`);
    x += gw + gap;
  }
  let lx = W - 130;
  opts.variants.forEach((v, i) => parts.push(`<rect x="${lx}" y="${top + i * 18}" width="12" height="12" fill="${COLORS[v]}"/>`, `<text x="${lx + 18}" y="${top + i * 18 + 10}">${v === 'ccr' ? 'ours (preload)' : v === 'register' ? 'stock register' : 'bare'}</text>`));
  parts.push('</svg>');
  return parts.join('\n');
}

const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function main() {
  const upstream = await startChild(join(here, 'upstream.mjs'));
  const ctx = { upstreamPort: upstream.port };
  const results = [];
  try {
    for (let run = 0; run < opts.runs; run++) {
      for (const rate of opts.rates) {
        for (const r of await measureRate(rate, run, ctx)) {
          r.run = run;
          results.push(r);
          process.stderr.write(`run ${run + 1}/${opts.runs} ${rate}/s ${r.variant}: cpu/req ${f(r.cpuPerRequestMs)} ms (idle ${f(r.idleCpuMsPerS, 1)} ms/s taken off), p50 ${f(r.latencyP50Ms, 2)} p99 ${f(r.latencyP99Ms, 2)} ms, idle RSS ${f(r.idleRssMiB, 1)} MiB (anon ${f(r.idleRssAnonMiB, 1)}), spans/req ${f(r.spansPerRequest, 2)}, failed ${r.failed}\n`);
        }
      }
    }
  } finally {
    upstream.child.kill();
  }
  const { rows, ratios } = summarize(results);
  const doc = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, options: opts, summary: rows, ratios, results };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(doc, null, 2));
  if (!smoke || args.svg) writeFileSync(args.svg ?? join(root, 'bench', 'results', 'gateway-cpu.svg'), svgChart(rows));
  console.log(`### Gateway (${opts.runs} runs, ${opts.durationMs / 1000} s per rate, medians)\n`);
  console.log('| rate/s | variant | CPU/request ms | p50 ms | p99 ms | idle RSS MiB | idle anon RSS MiB | spans/request | failed |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.rate} | ${r.variant} | ${f(r.cpuPerRequestMs)} | ${f(r.latencyP50Ms, 2)} | ${f(r.latencyP99Ms, 2)} | ${f(r.idleRssMiB, 1)} | ${f(r.idleRssAnonMiB, 1)} | ${f(r.spansPerRequest, 2)} | ${r.failed} |`);
  for (const q of ratios) {
    console.log(`\n${q.rate}/s (medians of per-run differences): added CPU/request ours ${f(q.addedCpuCcrMs)} ms vs register ${f(q.addedCpuRegisterMs)} ms (ratio ${f(q.addedCpuRatio, 2)}); p99 over bare ours ${f(q.p99OverBareMs, 2)} ms, register ${f(q.registerP99OverBareMs, 2)} ms; idle RSS over bare ours ${f(q.idleRssOverBareMiB, 1)} MiB, register ${f(q.registerIdleRssOverBareMiB, 1)} MiB (anonymous: ours ${f(q.idleRssAnonOverBareMiB, 1)}, register ${f(q.registerIdleRssAnonOverBareMiB, 1)} MiB)`);
  }
  console.log(`\nJSON: ${outFile}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
