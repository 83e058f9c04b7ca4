#!/usr/bin/env node
/**
 * The ccr-otel demo: `npm run demo` (or `npx pnpm@12.4.2 demo`).
 *
 * Starts Jaeger and ccr-otelcol (binaries from collector/build.sh, cached), a fake LLM upstream, and
 * the sample gateway (test/fixtures/gateway-app) under `node -r @ccr/otel-setup`; drives traffic
 * through it with a progress bar (plain and streaming requests, then a burst of log records); then
 * prints where everything landed: the rotated files and how many records each holds, the Jaeger
 * query URLs for the traces, and the exported / dropped counts of the processors.
 *
 *   node demo/run.mjs [--once] [--requests N] [--concurrency N] [--burst N] [--keep-data] [--adaptive] [--run-dir DIR] [--ccr]
 *
 * --ccr runs the real Claude Code Router 3.1.1 (installed into the cache by test/fixtures/ccr/install.sh,
 * instant once cached) as the gateway, under NODE_OPTIONS="--require @ccr/otel-setup", instead of the
 * sample gateway; the log burst (an endpoint of the sample gateway) is skipped then.
 * The demo ends with the newest request traces as a waterfall in the terminal (scripts/traces.mjs,
 * also `npm run traces`): spans, phases, GenAI attributes, time to first chunk, tokens.
 *
 * --once (or CI=true) stops everything after the traffic; otherwise it keeps running until Ctrl-C so
 * that Jaeger can be looked at. Ctrl-C stops everything it started. Nothing listens beyond 127.0.0.1.
 * Data lands in demo/.run/ (emptied at each start; --run-dir puts it elsewhere).
 *
 * The gateway runs with the adaptive level off by default: on a 2-core box the demo itself (traffic,
 * collector, Jaeger) saturates the gateway, and the adaptive level would then refuse most info records
 * (counted as dropped below_level). --adaptive runs the product default and shows that shedding.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { fetchTraces, printTraces } from '../scripts/traces.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
let RUN_DIR = path.join(HERE, '.run');
let DATA_DIR = path.join(RUN_DIR, 'data');
const SERVICE = 'ccr-demo-gateway';
const HOST = '127.0.0.1';
const DEMO_KEY = 'sk-demo-client-key';

// ------------------------------------------------------------------------------------------------
// options

/** The preload's settings for either gateway (the sample one or CCR's): one place, so both demos export alike. */
function telemetryEnv(otlp, opts) {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
    OTEL_SERVICE_NAME: SERVICE,
    OTEL_METRIC_EXPORT_INTERVAL: '2000',
    LOG_LEVEL: 'info',
    CCR_OTEL_CAPTURE_STDOUT: 'true',
    ...(opts.adaptive ? {} : { CCR_OTEL_ADAPTIVE: 'false' }),
  };
}

function parseArgs(argv) {
  const o = { once: process.env.CI === 'true' || process.env.CI === '1', requests: 400, concurrency: 8, burst: 20000, keepData: false, adaptive: false, ccr: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) fail(`${a} needs a number`);
      return Math.floor(v);
    };
    if (a === '--once') o.once = true;
    else if (a === '--requests') o.requests = num();
    else if (a === '--concurrency') o.concurrency = Math.max(1, num());
    else if (a === '--burst') o.burst = num();
    else if (a === '--keep-data') o.keepData = true;
    else if (a === '--adaptive') o.adaptive = true;
    else if (a === '--ccr') o.ccr = true;
    else if (a === '--run-dir') {
      const d = argv[++i];
      if (!d) fail('--run-dir needs a directory');
      RUN_DIR = path.resolve(d);
      DATA_DIR = path.join(RUN_DIR, 'data');
    }
    else if (a === '--help' || a === '-h') {
      console.log('usage: node demo/run.mjs [--once] [--requests N] [--concurrency N] [--burst N] [--keep-data] [--adaptive] [--run-dir DIR] [--ccr]');
      process.exit(0);
    } else fail(`unknown option ${a} (try --help)`);
  }
  return o;
}

// ------------------------------------------------------------------------------------------------
// terminal

const tty = process.stdout.isTTY;
const c = (code) => (s) => (tty && !process.env.NO_COLOR ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const bold = c('1');
const dim = c('2');
const green = c('32');
const yellow = c('33');
const red = c('31');
const cyan = c('36');
const fmt = (n) => Number(n).toLocaleString('en-US');
const mib = (bytes) => `${(bytes / 1048576).toFixed(2)} MiB`;

function say(msg = '') {
  process.stdout.write(`${msg}\n`);
}
function step(msg) {
  say(`${cyan('▸')} ${msg}`);
}
function fail(msg) {
  process.stderr.write(`${red('demo: ')}${msg}\n`);
  process.exit(1);
}

/** A progress bar: redrawn in place on a terminal, a line per 10% otherwise. */
function progress(label, total) {
  const width = 30;
  const t0 = Date.now();
  let lastDecile = -1;
  let done = 0;
  let errors = 0;
  const render = (final = false) => {
    const frac = total ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * width);
    const secs = (Date.now() - t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const line = `  ${label.padEnd(18)} [${green('█'.repeat(filled))}${dim('░'.repeat(width - filled))}] ${String(Math.round(frac * 100)).padStart(3)}%  ${fmt(done)}/${fmt(total)}  ${fmt(Math.round(rate))}/s${errors ? red(`  errors ${errors}`) : ''}`;
    if (tty) process.stdout.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        say(line);
      }
    }
  };
  let timer = tty ? setInterval(() => render(), 100) : undefined;
  return {
    tick(n = 1, err = false) {
      done += n;
      if (err) errors += n;
      if (!tty) render();
    },
    finish() {
      if (timer) clearInterval(timer);
      timer = undefined;
      render(true);
      return { done, errors, ms: Date.now() - t0 };
    },
  };
}

// ------------------------------------------------------------------------------------------------
// processes (only what this script started is ever signalled)

const started = []; // { name, child }
let cleaningUp = false;

function startProc(name, cmd, args, env, outFile) {
  const fd = fs.openSync(outFile, 'a');
  // own process group: Ctrl-C in the terminal reaches only this script, which then stops the
  // children in order (gateway first, while the collector still takes its last telemetry)
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  const entry = { name, child, outFile, exited: new Promise((r) => child.once('exit', (code, signal) => r({ code, signal }))) };
  started.push(entry);
  child.once('exit', (code, signal) => {
    if (!cleaningUp && !entry.expectedExit) {
      process.stderr.write(`\n${red(`demo: ${name} exited unexpectedly (code ${code}, signal ${signal}); its output:`)}\n${tailFile(outFile)}\n`);
      cleanup(1);
    }
  });
  return entry;
}

function tailFile(f, lines = 25) {
  try {
    return fs.readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

async function stopProc(entry, graceMs = 10000) {
  const { child } = entry;
  entry.expectedExit = true;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer;
  const r = await Promise.race([entry.exited, new Promise((res) => (timer = setTimeout(() => res('timeout'), graceMs)))]);
  clearTimeout(timer);
  if (r === 'timeout') {
    child.kill('SIGKILL');
    await entry.exited;
  }
}

// safety net: whatever way this script ends, its children do not outlive it
process.on('exit', () => {
  for (const { child, group } of started) {
    try {
      // CCR's serve forks the gateway into its own process group (started detached, led by serve)
      if (group) process.kill(-child.pid, 'SIGKILL');
      else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

let upstream;
async function cleanup(code = 0) {
  if (cleaningUp) return;
  cleaningUp = true;
  if (tty) process.stdout.write('\x1b[?25h');
  say();
  step('stopping everything the demo started…');
  // the gateway first, so its last telemetry still reaches the collector; then collector, then Jaeger
  for (const name of ['gateway', 'ccr-otelcol', 'jaeger']) {
    const e = started.find((s) => s.name === name);
    if (e) await stopProc(e).catch(() => undefined);
  }
  await upstream?.close().catch(() => undefined);
  say(`  ${green('stopped')} ${started.map((s) => `${s.name} (pid ${s.child.pid})`).join(', ')}${upstream ? ', fake upstream' : ''}`);
  process.exit(code);
}

// ------------------------------------------------------------------------------------------------
// helpers

function freePort(preferred) {
  const tryPort = (port) =>
    new Promise((resolve) => {
      const srv = net.createServer();
      srv.unref();
      srv.once('error', () => resolve(undefined));
      srv.listen({ port, host: HOST, exclusive: true }, () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
  return (async () => (preferred && (await tryPort(preferred))) || (await tryPort(0)))();
}
const handed = new Set();
async function port(preferred) {
  for (let i = 0; i < 50; i++) {
    const p = await freePort(i === 0 ? preferred : undefined);
    if (p && !handed.has(p)) {
      handed.add(p);
      return p;
    }
  }
  throw new Error('no free port');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHttp(url, what, entry, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (entry && (entry.child.exitCode !== null || entry.child.signalCode !== null)) throw new Error(`${what} exited:\n${tailFile(entry.outFile)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not yet */
    }
    await sleep(150);
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms:\n${entry ? tailFile(entry.outFile) : ''}`);
}

function node24() {
  for (const p of [path.join(ROOT, 'node_modules', 'node', 'bin', 'node'), path.join(ROOT, 'node_modules', '.bin', 'node')]) {
    if (fs.existsSync(p)) return fs.realpathSync(p);
  }
  return process.execPath;
}

function binaries() {
  if (process.env.CCR_OTELCOL_BIN && process.env.JAEGER_BIN) return { collector: process.env.CCR_OTELCOL_BIN, jaeger: process.env.JAEGER_BIN };
  // builds when missing (minutes, once), prints only the two paths when cached
  const out = execFileSync('bash', [path.join(ROOT, 'collector', 'build.sh'), '--print-env'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const env = Object.fromEntries(
    out
      .split('\n')
      .map((l) => l.match(/^(\w+)=(.*)$/))
      .filter(Boolean)
      .map((m) => [m[1], m[2].replace(/^['"]|['"]$/g, '')]),
  );
  if (!env.CCR_OTELCOL_BIN || !env.JAEGER_BIN) throw new Error(`collector/build.sh --print-env printed no binaries:\n${out}`);
  return { collector: env.CCR_OTELCOL_BIN, jaeger: env.JAEGER_BIN };
}

/** Environment for the binaries and the gateway: ours, without variables that would change their configs. */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OTEL_|CCR_OTEL_|JAEGER_|LOG_ROTATION_SIZE$|LOG_MAX_FILES$|LOG_MAX_DAYS$|LOG_COMPRESSION$|NODE_OPTIONS$|NODE_ENV$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

// ------------------------------------------------------------------------------------------------
// what landed in the files

// Backups are <signal>-<timestamp>.jsonl.gz (plain .jsonl until the collector has gzipped them);
// one that is there both ways for a moment is listed once, as .gz.
function signalFiles(signal) {
  if (!fs.existsSync(DATA_DIR)) return [];
  const names = fs.readdirSync(DATA_DIR).filter((n) => n.startsWith(`${signal}-`) && /\.jsonl(\.gz)?$/.test(n));
  const backups = names.filter((n) => n.endsWith('.gz') || !names.includes(`${n}.gz`)).sort();
  if (fs.existsSync(path.join(DATA_DIR, `${signal}.jsonl`))) backups.push(`${signal}.jsonl`);
  return backups.map((n) => path.join(DATA_DIR, n));
}

function readText(file) {
  try {
    const data = fs.readFileSync(file);
    return file.endsWith('.gz') ? zlib.gunzipSync(data).toString('utf8') : data.toString('utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return ''; // gzipped (or pruned) since it was listed
    throw e;
  }
}

function countRecords(file, signal) {
  let records = 0;
  for (const line of readText(file).split('\n')) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      continue; // a line being written right now
    }
    if (signal === 'logs') for (const r of req.resourceLogs ?? []) for (const s of r.scopeLogs ?? []) records += (s.logRecords ?? []).length;
    if (signal === 'traces') for (const r of req.resourceSpans ?? []) for (const s of r.scopeSpans ?? []) records += (s.spans ?? []).length;
    if (signal === 'metrics')
      for (const r of req.resourceMetrics ?? [])
        for (const s of r.scopeMetrics ?? [])
          for (const m of s.metrics ?? []) {
            const d = m.sum ?? m.gauge ?? m.histogram ?? m.exponentialHistogram ?? m.summary;
            records += (d?.dataPoints ?? []).length;
          }
  }
  return records;
}

function sampleTraceIds(max = 3) {
  const ids = [];
  for (const f of signalFiles('traces')) {
    for (const line of readText(f).split('\n')) {
      if (!line.trim()) continue;
      try {
        const req = JSON.parse(line);
        for (const r of req.resourceSpans ?? [])
          for (const s of r.scopeSpans ?? [])
            for (const sp of s.spans ?? []) {
              const route = (sp.attributes ?? []).find((a) => a.key === 'http.route')?.value?.stringValue;
              if (sp.kind === 2 && route === '/v1/messages' && !ids.includes(sp.traceId)) ids.push(sp.traceId);
              if (ids.length >= max) return ids;
            }
      } catch {
        /* partial line */
      }
    }
  }
  return ids;
}

// ------------------------------------------------------------------------------------------------
// the real Claude Code Router (--ccr)

const CCR_MODEL = 'fake-model';

/** Installs CCR 3.1.1 into the cache (instant once cached) and returns its package directory. */
function installCcr() {
  step('Claude Code Router 3.1.1 (installed into the cache once, about 2 min the first time)…');
  const out = execFileSync('bash', [path.join(ROOT, 'test', 'fixtures', 'ccr', 'install.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').pop();
  if (!dir || !fs.existsSync(path.join(dir, 'dist', 'main', 'cli.js'))) fail(`test/fixtures/ccr/install.sh did not install CCR:\n${out}`);
  return dir;
}

function canConnect(p) {
  return new Promise((resolve) => {
    const s = net.connect({ port: p, host: HOST });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * `cli.js serve` with a fresh HOME holding a config.json: one provider (the fake upstream, OpenAI
 * format), the demo key as APIKEY, the gateway on gwPort (CCR also reserves gwPort + 1).
 */
async function startCcrGateway(preload, gwPort, otlp, opts) {
  const pkg = installCcr();
  const home = path.join(RUN_DIR, 'ccr-home');
  fs.mkdirSync(path.join(home, '.claude-code-router'), { recursive: true });
  fs.writeFileSync(
    path.join(home, '.claude-code-router', 'config.json'),
    JSON.stringify(
      {
        APIKEY: DEMO_KEY,
        HOST,
        PORT: gwPort,
        Providers: [{ name: 'fake', api_base_url: `${upstream.url}/v1/chat/completions`, api_key: 'sk-demo-provider-key', models: [CCR_MODEL], protocol: 'openai_chat_completions' }],
        Router: { default: `fake,${CCR_MODEL}` },
      },
      null,
      2,
    ),
  );
  const mgmt = await port();
  const node = node24();
  step(`starting Claude Code Router: NODE_OPTIONS="--require ${path.relative(process.cwd(), preload) || '.'}" ccr serve`);
  const entry = startProc(
    'gateway',
    node,
    [path.join(pkg, 'dist', 'main', 'cli.js'), 'serve', '--no-open', '--host', HOST, '--port', String(mgmt)],
    cleanEnv({
      HOME: home,
      USERPROFILE: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      PATH: `${path.dirname(node)}:${process.env.PATH ?? ''}`,
      GATEWAY_LOG_LEVEL: 'info',
      CCR_WEB_AUTH_TOKEN: randomBytes(16).toString('hex'),
      NODE_OPTIONS: `--require ${preload}`,
      ...telemetryEnv(otlp, opts),
    }),
    path.join(RUN_DIR, 'gateway.out'),
  );
  entry.group = true;
  const deadline = Date.now() + 90000;
  while (!(await canConnect(gwPort))) {
    if (entry.child.exitCode !== null) throw new Error(`ccr serve exited:\n${tailFile(entry.outFile)}`);
    if (Date.now() > deadline) throw new Error(`CCR's gateway did not listen on ${gwPort} within 90 s:\n${tailFile(entry.outFile)}`);
    await sleep(200);
  }
  return entry;
}

/** Waits (bounded) until Jaeger has request traces of the demo service, then prints the newest two. */
async function showTraces(queryUrl) {
  const query = { jaeger: queryUrl, service: SERVICE, limit: 2, lookbackMin: 30, route: '/v1/messages' };
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const ts = await fetchTraces(query).catch(() => []);
    if (ts.length >= 2) break;
    await sleep(500);
  }
  try {
    return (await printTraces(query)).length;
  } catch (e) {
    say(red(`  could not read traces from Jaeger: ${e.message}`));
    return 0;
  }
}

// ------------------------------------------------------------------------------------------------
// main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup(0));

  say(bold('ccr-otel demo') + dim('  — an instrumented LLM gateway → ccr-otelcol → rotated files + Jaeger'));
  say();

  const preload = path.join(ROOT, 'packages', 'otel-setup');
  if (!fs.existsSync(path.join(preload, 'bundle', 'preload.js'))) {
    fail(`packages/otel-setup is not built (no bundle/preload.js). Run \`npx pnpm@12.4.2 demo\` (it builds first) or \`npx pnpm@12.4.2 run build\`.`);
  }
  step('collector and Jaeger binaries (built once, then cached)…');
  const bins = binaries();
  say(dim(`  ${bins.collector}\n  ${bins.jaeger}`));

  if (!opts.keepData) fs.rmSync(RUN_DIR, { recursive: true, force: true });
  fs.mkdirSync(DATA_DIR, { recursive: true });

  // Jaeger
  const j = {
    grpc: await port(),
    http: await port(),
    query: await port(16686),
    queryGrpc: await port(),
    health: await port(),
    metrics: await port(),
  };
  step('starting Jaeger…');
  const jaeger = startProc(
    'jaeger',
    bins.jaeger,
    ['--config', path.join(ROOT, 'collector', 'jaeger.yaml')],
    cleanEnv({
      JAEGER_HOST: HOST,
      JAEGER_OTLP_GRPC_PORT: String(j.grpc),
      JAEGER_OTLP_HTTP_PORT: String(j.http),
      JAEGER_QUERY_PORT: String(j.query),
      JAEGER_QUERY_GRPC_PORT: String(j.queryGrpc),
      JAEGER_HEALTH_PORT: String(j.health),
      JAEGER_METRICS_PORT: String(j.metrics),
      JAEGER_DATA_DIR: path.join(RUN_DIR, 'jaeger'),
    }),
    path.join(RUN_DIR, 'jaeger.out'),
  );
  const queryUrl = `http://${HOST}:${j.query}`;
  await waitHttp(`http://${HOST}:${j.health}/status`, 'jaeger', jaeger);
  await waitHttp(`${queryUrl}/api/services`, 'jaeger query', jaeger);

  // collector
  const col = { grpc: await port(), http: await port(4318), health: await port(), ready: await port(), metrics: await port() };
  step('starting ccr-otelcol (files rotate at 1 MiB for the demo)…');
  const collector = startProc(
    'ccr-otelcol',
    bins.collector,
    ['--config', path.join(ROOT, 'collector', 'config.yaml'), '--feature-gates=+extension.healthcheck.useComponentStatus'],
    cleanEnv({
      CCR_OTEL_HOST: HOST,
      CCR_OTEL_GRPC_PORT: String(col.grpc),
      CCR_OTEL_HTTP_PORT: String(col.http),
      CCR_OTEL_HEALTH_PORT: String(col.health),
      CCR_OTEL_READY_PORT: String(col.ready),
      CCR_OTEL_METRICS_PORT: String(col.metrics),
      CCR_OTEL_DATA_DIR: DATA_DIR,
      CCR_OTEL_STORAGE_DIR: path.join(RUN_DIR, 'storage'),
      JAEGER_OTLP_ENDPOINT: `${HOST}:${j.grpc}`,
      LOG_ROTATION_SIZE: '1',
      LOG_MAX_FILES: '50',
    }),
    path.join(RUN_DIR, 'ccr-otelcol.out'),
  );
  const otlp = `http://${HOST}:${col.http}`;
  await waitHttp(`http://${HOST}:${col.health}/health`, 'ccr-otelcol', collector);
  await waitHttp(`http://${HOST}:${col.ready}/ready`, 'ccr-otelcol readiness', collector);

  // fake upstream (in this process) and the instrumented gateway
  const { startFakeUpstream } = require(path.join(ROOT, 'test', 'fixtures', 'fake-upstream.js'));
  // a first output chunk 20 ms after the headers, as an LLM thinks: upstream.first_token ends after upstream.ttfb
  upstream = await startFakeUpstream({ latencyMs: 5, chunkDelayMs: 2, firstChunkDelayMs: 20, keepRequests: false });
  const gwPort = await port();
  let gateway;
  if (opts.ccr) gateway = await startCcrGateway(preload, gwPort, otlp, opts);
  else {
    step(`starting the sample gateway: node -r ${path.relative(process.cwd(), preload) || '.'} test/fixtures/gateway-app/server.js`);
    gateway = startProc(
      'gateway',
      node24(),
      ['-r', preload, path.join(ROOT, 'test', 'fixtures', 'gateway-app', 'server.js')],
      cleanEnv({
        PORT: String(gwPort),
        UPSTREAM_URL: upstream.url,
        GATEWAY_API_KEY: DEMO_KEY,
        GATEWAY_JSON_STDOUT: 'true',
        ...telemetryEnv(otlp, opts),
      }),
      path.join(RUN_DIR, 'gateway.out'),
    );
  }
  const gw = `http://${HOST}:${gwPort}`;
  if (!opts.ccr) await waitHttp(`${gw}/healthz`, 'gateway', gateway, 30000);
  say(dim(`  ${opts.ccr ? 'Claude Code Router' : 'gateway'} ${gw}  →  fake upstream ${upstream.url}  ·  telemetry → ${otlp}`));
  say(dim(`  adaptive level ${opts.adaptive ? 'on (product default): info records are refused while the gateway is saturated' : 'off (--adaptive turns it on)'}`));
  say();

  // traffic 1: requests, half of them streaming
  step(`driving ${fmt(opts.requests)} requests (${opts.concurrency} at a time, every other one streaming)…`);
  if (tty) process.stdout.write('\x1b[?25l');
  const bar = progress('POST /v1/messages', opts.requests);
  let next = 0;
  const worker = async () => {
    while (!cleaningUp) {
      const i = next++;
      if (i >= opts.requests) return;
      let ok = false;
      try {
        const res = await fetch(`${gw}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': DEMO_KEY },
          body: JSON.stringify({ model: opts.ccr ? CCR_MODEL : 'demo-model', max_tokens: 64, stream: i % 2 === 1, messages: [{ role: 'user', content: `request ${i}` }] }),
          signal: AbortSignal.timeout(30000),
        });
        await res.arrayBuffer();
        ok = res.status === 200;
      } catch {
        ok = false;
      }
      bar.tick(1, !ok);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const r1 = bar.finish();

  // traffic 2: a burst of log records, emitted synchronously inside the gateway
  let r2 = { done: 0, errors: 0, ms: 0 };
  if (opts.burst > 0 && !opts.ccr) {
    step(`a burst of ${fmt(opts.burst)} log records inside the gateway (to show batching and file rotation)…`);
    const chunk = 5000;
    const b = progress('log burst', opts.burst);
    for (let sent = 0; sent < opts.burst && !cleaningUp; ) {
      const n = Math.min(chunk, opts.burst - sent);
      try {
        const res = await fetch(`${gw}/__emit?n=${n}&run=demo-burst`, { method: 'POST', signal: AbortSignal.timeout(30000) });
        await res.arrayBuffer();
        b.tick(n, res.status !== 200);
      } catch {
        b.tick(n, true);
      }
      sent += n;
      await sleep(20);
    }
    r2 = b.finish();
  }
  if (tty) process.stdout.write('\x1b[?25h');

  // let the processors drain, then the collector's batch (1 s) and file flush (1 s)
  step('waiting for the exporters to drain…');
  let stats;
  const drainDeadline = Date.now() + 20000;
  while (!opts.ccr && Date.now() < drainDeadline) {
    try {
      stats = await (await fetch(`${gw}/__ccr_otel/stats`, { signal: AbortSignal.timeout(2000) })).json();
    } catch {
      stats = undefined;
    }
    const busy = (s) => (s?.queued ?? 0) + (s?.inFlight ?? 0);
    if (stats && busy(stats.logs) === 0 && busy(stats.spans) === 0) break;
    await sleep(250);
  }
  if (!opts.ccr) {
    try {
      stats = await (await fetch(`${gw}/__ccr_otel/stats`, { signal: AbortSignal.timeout(2000) })).json();
    } catch {
      /* keep the last */
    }
  }
  // the collector answers after the write; wait until the files hold what was exported (a rotated
  // backup may be between its plain and .gz name for a moment)
  const inFiles = (signal) => signalFiles(signal).reduce((a, f) => a + countRecords(f, signal), 0);
  const filesDeadline = Date.now() + 15000;
  await sleep(1500);
  while (Date.now() < filesDeadline) {
    if (!stats?.logs || (inFiles('logs') >= stats.logs.exported && inFiles('traces') >= stats.spans.exported)) break;
    await sleep(500);
  }

  // report
  say();
  say(bold('Where to look'));
  say(`  ${bold('Files')} ${dim(`(rotated at 1 MiB; backups gzipped as <signal>-<timestamp>.jsonl.gz)`)} in ${path.relative(process.cwd(), DATA_DIR) || DATA_DIR}/`);
  const totals = {};
  for (const [signal, unit] of [
    ['logs', 'log records'],
    ['traces', 'spans'],
    ['metrics', 'metric data points'],
  ]) {
    totals[signal] = 0;
    for (const f of signalFiles(signal)) {
      const n = countRecords(f, signal);
      totals[signal] += n;
      say(`    ${path.basename(f).padEnd(44)} ${mib(fs.statSync(f).size).padStart(10)}  ${fmt(n).padStart(8)} ${unit}`);
    }
  }
  say(`  ${bold('Jaeger')} ${dim('(query API; the Jaeger built from the Go module serves a placeholder page instead of the UI)')}`);
  say(`    ${queryUrl}/api/traces?service=${SERVICE}&limit=20`);
  for (const id of sampleTraceIds(2)) say(`    ${queryUrl}/api/traces/${id}`);
  say(`    ${queryUrl}/api/services`);
  say(`  ${bold('Process output')} ${dim(path.relative(process.cwd(), RUN_DIR) + '/{gateway,ccr-otelcol,jaeger}.out')}`);
  say();

  const dropped = (s) => Object.entries(s?.dropped ?? {}).filter(([, v]) => v > 0);
  const dropTotal = (s) => dropped(s).reduce((a, [, v]) => a + v, 0);
  if (stats?.logs) {
    const dl = dropTotal(stats.logs);
    const ds = dropTotal(stats.spans);
    const detail = [...dropped(stats.logs).map(([k, v]) => `logs ${k} ${fmt(v)}`), ...dropped(stats.spans).map(([k, v]) => `spans ${k} ${fmt(v)}`)];
    if (dropped(stats.logs).some(([k]) => k === 'below_level')) {
      say(dim('  below_level: records the adaptive level refused while the gateway was saturated; counted, never silently lost'));
    }
    say(
      `${bold('Summary')}  exported: ${green(fmt(stats.logs.exported))} log records, ${green(fmt(stats.spans.exported))} spans  ·  dropped: ${
        dl + ds === 0 ? green('0') : yellow(`${fmt(dl + ds)} (${detail.join(', ')})`)
      }  ·  requests ${fmt(r1.done)} (${r1.errors ? red(`${r1.errors} failed`) : '0 failed'}) in ${(r1.ms / 1000).toFixed(1)} s, burst ${fmt(r2.done)} records in ${(r2.ms / 1000).toFixed(1)} s`,
    );
  } else {
    say(`${bold('Summary')}  ${opts.ccr ? '' : yellow('the gateway did not report stats  ·  ')}in the files: ${fmt(totals.logs)} log records, ${fmt(totals.traces)} spans  ·  requests ${fmt(r1.done)} (${r1.errors ? red(`${r1.errors} failed`) : '0 failed'})`);
  }

  // the newest request traces as a waterfall (what `npm run traces` prints)
  say();
  say(bold('The newest requests in Jaeger') + dim(`  (npm run traces -- --jaeger ${queryUrl} --service ${SERVICE})`));
  const shown = await showTraces(queryUrl);
  const ok = r1.errors === 0 && totals.logs > 0 && totals.traces > 0 && shown > 0;
  if (!ok) process.stderr.write(`${red('demo: something did not arrive')} (request errors ${r1.errors}, log records ${totals.logs}, spans ${totals.traces}, traces in Jaeger ${shown})\n`);
  if (opts.once) {
    await cleanup(ok ? 0 : 1);
    return;
  }
  say();
  say(`${bold('Running.')} Jaeger: ${cyan(`${queryUrl}/api/traces?service=${SERVICE}`)}  ·  gateway: ${gw}  ·  ${bold('Ctrl-C')} stops everything.`);
}

main().catch((e) => {
  process.stderr.write(`${red('demo failed: ')}${e?.stack ?? e}\n`);
  cleanup(1);
});
