// Idle memory of the real Claude Code Router 3.1.1 (`cli.js serve`), bare, with our preload and with
// the stock auto-instrumentations register: the figure a CCR user sees, where the tiny gateway of
// bench/gateway/ touches only a few of the node binary's own code pages (file-backed, shared by every
// node process) and so shows a bigger RSS difference than a real application does.
//
//   node bench/ccr-idle.mjs [--runs 3] [--settle 20] [--requests 20] [--variants bare,ccr,register]
//        [--out bench/results/ccr-idle.json]
//
// Per run, the variants one after another (order rotated each run): a fresh HOME with a config routing
// to a fake OpenAI-compatible upstream (test/fixtures/fake-upstream.js, in this process), OTLP to a
// counting sink (bench/sink.mjs) of its own for the instrumented variants; start `serve`, wait until its
// gateway child (gateway-bootstrap.js) listens, settle, read VmRSS/RssAnon/RssFile of the gateway and of
// serve from /proc/PID/status; then send --requests POST /v1/messages (half streamed), settle again, read
// again; stop everything by PID. Only 127.0.0.1 is used (CCR's own catalogue fetches at start fail
// without a network, as in the end-to-end test).
//
// From test/helpers/ccr.ts (TypeScript with extensionless imports: Node cannot import it from here)
// this reimplements the config file, the environment, the port pair and findDescendant, in a few lines.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listeningPort } from './lib/port-child.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(join(here, 'package.json'));
const { startFakeUpstream } = require(join(root, 'test', 'fixtures', 'fake-upstream.js'));

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    settle: { type: 'string', default: '20' }, // seconds after the gateway listens, and again after the requests
    requests: { type: 'string', default: '20' },
    variants: { type: 'string', default: 'bare,ccr,register' },
    out: { type: 'string', default: join(root, 'bench', 'results', 'ccr-idle.json') },
  },
});
const opts = { runs: Number(args.runs), settleMs: Number(args.settle) * 1000, requests: Number(args.requests), variants: args.variants.split(',') };
for (const [k, v] of Object.entries({ runs: opts.runs, settle: opts.settleMs, requests: opts.requests })) {
  if (!Number.isFinite(v) || v < 0 || (k === 'runs' && v < 1)) throw new Error(`--${k}: not a valid number`);
}

const CCR_VERSION = '3.1.1';
const API_KEY = 'sk-ccr-bench-client-key';
const MODEL = 'fake-model';

/** Environment per variant, on top of what every variant gets; `sink`: whether it exports OTLP. */
const VARIANTS = {
  bare: { sink: false, env: {} },
  // as the README tells CCR users
  ccr: { sink: true, env: { NODE_OPTIONS: `--require ${join(root, 'packages', 'otel-setup')}`, CCR_OTEL_CAPTURE_STDOUT: 'true' } },
  register: {
    sink: true,
    env: { NODE_OPTIONS: `--require ${require.resolve('@opentelemetry/auto-instrumentations-node/register')}`, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici' },
  },
};
for (const v of opts.variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024; // /proc/PID/status counts kB

/** Every PID this process started and has not seen exit: killed on any exit, even a failed one. */
const live = new Set();
process.once('exit', () => {
  for (const pid of live) kill(pid, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

function kill(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); // a zombie is gone for us
  } catch {
    return false;
  }
}

/** The Node 24 the repository pins (CCR's better-sqlite3 is compiled for it), as test/helpers/process.ts finds it. */
function node24() {
  for (const c of [join(root, 'node_modules', 'node', 'bin', 'node'), join(root, 'node_modules', '.bin', 'node')]) if (existsSync(c)) return realpathSync(c);
  return process.execPath;
}

/** CCR's package dir from test/fixtures/ccr/install.sh (instant when cached). */
function ccrPackage() {
  const out = execFileSync('bash', [join(root, 'test', 'fixtures', 'ccr', 'install.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CCR_VERSION } });
  return out.trim().split('\n').pop();
}

/** kB of VmRSS, RssAnon, RssFile of a process, in MiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / MiB, anonMiB: kb('RssAnon') / MiB, fileMiB: kb('RssFile') / MiB };
}

/** PID of a descendant of `rootPid` whose command line matches `re`. */
function findDescendant(rootPid, re) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  for (const pid of parent.keys()) {
    let p = pid;
    for (let depth = 0; p && p !== rootPid && depth < 10; depth++) p = parent.get(p);
    if (p !== rootPid || pid === rootPid) continue;
    try {
      if (re.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))) return pid;
    } catch {
      /* gone */
    }
  }
  return undefined;
}

function isListening(port) {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const done = (ok) => (s.destroy(), resolve(ok));
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function bindable(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** A free port p with p + 1 free too (CCR's gateway reserves PORT + 1 as its core port). */
async function freePortPair() {
  for (let i = 0; i < 50; i++) {
    const p = await bindable(0);
    if (p < 65535 && (await bindable(p + 1))) return p;
  }
  throw new Error('no free pair of ports');
}

/** Starts a script that prints {"port"} on its first line (the sink). */
function startSink() {
  const child = spawn(process.execPath, [join(here, 'sink.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  live.add(child.pid);
  child.once('exit', () => live.delete(child.pid));
  return listeningPort(child, 'sink');
}

/** The environment of every CCR process: the bench's own without any telemetry settings, a fresh HOME, Node 24 first in PATH. */
function ccrEnv(home, extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_ENV' || k.startsWith('OTEL_') || k.startsWith('CCR_OTEL_') || k.startsWith('npm_')) continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    PATH: `${dirname(node24())}:${process.env.PATH ?? ''}`,
    GATEWAY_LOG_LEVEL: 'info',
    CCR_WEB_AUTH_TOKEN: randomBytes(16).toString('hex'),
    ...extra,
  };
}

/** One variant's CCR: start, settle, measure, requests, settle, measure; stops everything it started. */
async function measure(variant, pkg, upstreamUrl) {
  const v = VARIANTS[variant];
  const home = mkdtempSync(join(tmpdir(), 'ccr-idle-'));
  const port = await freePortPair();
  const mgmtPort = await bindable(0);
  mkdirSync(join(home, '.claude-code-router'));
  writeFileSync(
    join(home, '.claude-code-router', 'config.json'),
    JSON.stringify({
      APIKEY: API_KEY,
      HOST: '127.0.0.1',
      PORT: port,
      Providers: [{ name: 'fake', api_base_url: `${upstreamUrl}/v1/chat/completions`, api_key: 'sk-fake-provider-key', models: [MODEL], protocol: 'openai_chat_completions' }],
      Router: { default: `fake,${MODEL}` },
    }),
  );
  const sink = v.sink ? await startSink() : undefined;
  const telemetry = sink ? { OTEL_SERVICE_NAME: 'ccr', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.port}`, ...v.env } : v.env;
  const t0 = performance.now();
  // a process group of its own, so that a gateway serve leaves behind can be ended by serve's group id
  const serve = spawn(node24(), [join(pkg, 'dist', 'main', 'cli.js'), 'serve', '--no-open', '--host', '127.0.0.1', '--port', String(mgmtPort)], {
    cwd: home,
    env: ccrEnv(home, telemetry),
    stdio: 'ignore',
    detached: true,
  });
  live.add(serve.pid);
  const r = { variant, servePid: serve.pid, gatewayPid: undefined, startMs: NaN, gateway: {}, serve: {}, requests: { sent: 0, ok: 0 }, sink: undefined, stopped: {} };
  try {
    const deadline = Date.now() + 90_000;
    while (!r.gatewayPid) {
      if (serve.exitCode !== null || serve.signalCode !== null) throw new Error(`${variant}: serve exited (${serve.exitCode ?? serve.signalCode}) before its gateway listened`);
      if (Date.now() > deadline) throw new Error(`${variant}: no gateway listening on ${port} within 90 s`);
      const pid = findDescendant(serve.pid, /gateway-bootstrap\.js/);
      if (pid) live.add(pid);
      if (pid && (await isListening(port))) r.gatewayPid = pid;
      else await sleep(200);
    }
    r.startMs = performance.now() - t0;
    await sleep(opts.settleMs);
    r.gateway.idle = memory(r.gatewayPid);
    r.serve.idle = memory(serve.pid);
    if (opts.requests > 0) {
      for (let i = 0; i < opts.requests; i++) {
        r.requests.sent++;
        const res = await fetch(`http://127.0.0.1:${port}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, 'anthropic-version': '2023-06-01' },
          body: JSON.stringify({ model: MODEL, max_tokens: 64, stream: i % 2 === 1, messages: [{ role: 'user', content: 'hello' }] }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status === 200 && text.includes('Hello')) r.requests.ok++;
      }
      await sleep(opts.settleMs);
      r.gateway.afterRequests = memory(r.gatewayPid);
      r.serve.afterRequests = memory(serve.pid);
    }
    if (sink) r.sink = await (await fetch(`http://127.0.0.1:${sink.port}/count`)).json();
    return r;
  } finally {
    await stop(serve, r.gatewayPid ?? findDescendant(serve.pid, /gateway-bootstrap\.js/));
    r.stopped = { serve: !alive(serve.pid), gateway: r.gatewayPid ? !alive(r.gatewayPid) : undefined };
    if (sink) {
      sink.child.kill();
      await new Promise((res) => (sink.child.exitCode === null ? sink.child.once('exit', res) : res()));
    }
    rmSync(home, { recursive: true, force: true });
  }
}

/** SIGTERM to serve (which stops its gateway), SIGKILL after 15 s; then whatever is left of the gateway and serve's group. */
async function stop(serve, gatewayPid) {
  const exited = serve.exitCode !== null || serve.signalCode !== null ? Promise.resolve() : new Promise((res) => serve.once('exit', res));
  kill(serve.pid, 'SIGTERM');
  const t = setTimeout(() => kill(serve.pid, 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
  live.delete(serve.pid);
  for (let i = 0; gatewayPid && alive(gatewayPid) && i < 25; i++) await sleep(200);
  if (gatewayPid && alive(gatewayPid)) kill(gatewayPid, 'SIGKILL');
  kill(-serve.pid, 'SIGKILL'); // serve's process group (it is the leader): anything else it left
  for (let i = 0; gatewayPid && alive(gatewayPid) && i < 10; i++) await sleep(100);
  if (gatewayPid) live.delete(gatewayPid);
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const PHASES = ['idle', 'afterRequests'];
const FIELDS = ['rssMiB', 'anonMiB', 'fileMiB'];

/** Medians per process, phase and variant; "over bare" is the median of the per-run differences from bare. */
function summarize(results) {
  const rows = [];
  for (const proc of ['gateway', 'serve']) {
    for (const phase of PHASES) {
      for (const variant of opts.variants) {
        const rs = results.filter((r) => r.variant === variant && r[proc][phase]);
        if (!rs.length) continue;
        const row = { process: proc, phase, variant, runs: rs.length };
        for (const f of FIELDS) row[f] = median(rs.map((r) => r[proc][phase][f]));
        for (const f of ['rssMiB', 'anonMiB']) {
          row[`${f}OverBare`] = median(
            rs.map((r) => {
              const bare = results.find((b) => b.run === r.run && b.variant === 'bare');
              return bare?.[proc][phase] ? r[proc][phase][f] - bare[proc][phase][f] : NaN;
            }),
          );
        }
        rows.push(row);
      }
    }
  }
  return rows;
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const signed = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(1)}` : '');

async function main() {
  const pkg = ccrPackage();
  const upstream = await startFakeUpstream({ keepRequests: false });
  const results = [];
  try {
    for (let run = 0; run < opts.runs; run++) {
      const order = opts.variants.map((_, i) => opts.variants[(i + run) % opts.variants.length]);
      for (const variant of order) {
        const r = { run, ...(await measure(variant, pkg, upstream.url)) };
        results.push(r);
        const g = r.gateway;
        process.stderr.write(
          `run ${run + 1}/${opts.runs} ${variant}: gateway up in ${(r.startMs / 1000).toFixed(1)} s; idle RSS ${f1(g.idle.rssMiB)} MiB (anon ${f1(g.idle.anonMiB)}), ` +
            `after ${r.requests.ok}/${r.requests.sent} requests ${f1(g.afterRequests?.rssMiB)} (anon ${f1(g.afterRequests?.anonMiB)}); serve idle ${f1(r.serve.idle.rssMiB)} (anon ${f1(r.serve.idle.anonMiB)}); ` +
            `stopped ${r.stopped.serve && r.stopped.gateway}${r.sink ? `; sink: ${r.sink.traces} spans, ${r.sink.logs} logs` : ''}\n`,
        );
      }
    }
  } finally {
    await upstream.close();
  }
  const summary = summarize(results);
  const doc = { date: new Date().toISOString(), node: execFileSync(node24(), ['--version'], { encoding: 'utf8' }).trim(), ccr: CCR_VERSION, options: opts, summary, results };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(doc, null, 2) + '\n');

  console.log(`### CCR ${CCR_VERSION} serve, memory (${opts.runs} runs, ${opts.settleMs / 1000} s settle, medians; "over bare": median of per-run differences)\n`);
  console.log('| process | when | variant | RSS MiB | over bare | RssAnon MiB | over bare | RssFile MiB |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of summary) {
    const when = r.phase === 'idle' ? 'idle' : `after ${opts.requests} requests`;
    const bare = r.variant === 'bare';
    console.log(`| ${r.process} | ${when} | ${r.variant} | ${f1(r.rssMiB)} | ${bare ? '' : signed(r.rssMiBOverBare)} | ${f1(r.anonMiB)} | ${bare ? '' : signed(r.anonMiBOverBare)} | ${f1(r.fileMiB)} |`);
  }
  console.log(`\nJSON: ${args.out}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
