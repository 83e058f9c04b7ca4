// A/B of request tracking inside one gateway process: tracking is switched off and on every window
// while a child process sends a fixed rate; CPU per request is compared between the two halves, so
// the machine's noise (shared, 2 cores) falls on both alike. Usage (after npm run build):
//   node bench/gateway/ab-tracking.cjs [rate=300] [seconds=40] [windowMs=1000]
// AB_DIST=<dir under packages/otel-setup> runs another build (e.g. a copy of an earlier dist);
// AB_ROOT=<a checkout with built packages/> runs another checkout's packages (to compare commits).
// Prints trackingCostMs (all on windows against all off windows) and pairMedianCostMs (the median of
// on - off over adjacent window pairs: steadier on a shared machine). Request tracking makes the HTTP
// server spans: in the off windows requests have none (the undici client spans stay). With AB_FIXED
// it also prints spansPerRequest, as the sink counted them.
'use strict';
const { spawn } = require('node:child_process');
const { join } = require('node:path');
const root = join(__dirname, '..', '..');
const [rate = 300, seconds = 40, windowMs = 1000] = process.argv.slice(2).map(Number);

function child(args, env) {
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((resolve) => {
    let buf = '';
    c.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ c, port: JSON.parse(buf.slice(0, nl)).port });
    });
  });
}

(async () => {
  const sink = await child([join(root, 'bench', 'sink.mjs')]);
  const upstream = await child([join(__dirname, 'upstream.mjs')]);
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${sink.port}`;
  process.env.OTEL_SERVICE_NAME = 'ab-gateway';
  const pkgRoot = process.env.AB_ROOT ?? root;
  const { resolveConfig } = require(join(pkgRoot, 'packages', 'otel-setup', process.env.AB_DIST ?? 'dist', 'config', 'resolve.js'));
  const { Telemetry } = require(join(pkgRoot, 'packages', 'otel-setup', process.env.AB_DIST ?? 'dist', 'sdk.js'));
  const t = new Telemetry(resolveConfig({ env: process.env, warn: () => {} }));
  // node:http is required after the SDK, as under the preload: instrumentation-http then patches it
  // and every request has its server span (required earlier, the server would go uninstrumented)
  const { createServer } = require('node:http');
  let served = 0;
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const up = await fetch(`http://127.0.0.1:${upstream.port}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': req.headers['x-api-key'] ?? '' }, body: JSON.stringify(body) });
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
    for await (const c of up.body) res.write(c);
    res.end();
    served++;
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const bodies = JSON.stringify([
    { model: 'claude-sonnet-4', max_tokens: 256, stream: false, messages: [{ role: 'user', content: 'Say hello.' }] },
    { model: 'claude-haiku', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Say hello.' }] },
  ]);
  const load = spawn(process.execPath, ['--input-type=module', '-e', `
    import { drive } from ${JSON.stringify(join(__dirname, 'load.mjs'))};
    const bodies = ${bodies}.map((b) => Buffer.from(JSON.stringify(b)));
    const r = await drive({ port: ${port}, path: '/v1/messages', rate: ${rate}, durationMs: ${seconds * 1000}, bodies, headers: { 'content-type': 'application/json', 'x-api-key': 'sk-secret' } });
    console.log(JSON.stringify({ ok: r.ok, failed: r.failed }));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const on = { cpu: 0, n: 0 }, off = { cpu: 0, n: 0 };
  // per window: [tracking on?, CPU ms per request]; adjacent on/off windows share the machine's noise
  const perWindow = [];
  let tracking = true;
  if (process.env.AB_FIXED === 'off') t.requestTracking.stop(), (tracking = false);
  await new Promise((r) => setTimeout(r, 3000)); // warm up with tracking on
  let c0 = process.cpuUsage(), s0 = served, w = 0;
  const iv = setInterval(() => {
    const d = process.cpuUsage(c0), n = served - s0;
    // the first window after a switch carries the other half's exports: count every other pair only
    const acc = tracking ? on : off;
    if (w >= 2) { acc.cpu += d.user + d.system; acc.n += n; if (n > 0) perWindow.push([tracking, (d.user + d.system) / 1000 / n]); }
    // AB_FIXED=on|off keeps one mode (to profile it with --cpu-prof)
    if (!process.env.AB_FIXED) {
      tracking = !tracking;
      if (tracking) t.requestTracking.start();
      else t.requestTracking.stop();
    }
    c0 = process.cpuUsage(); s0 = served; w++;
  }, windowMs);
  load.stdout.on('data', async (d) => {
    clearInterval(iv);
    const a = on.cpu / 1000 / on.n, b = off.cpu / 1000 / off.n;
    // the median of (on - off) over adjacent window pairs: a burst of load elsewhere moves one pair, not the figure
    const diffs = [];
    for (let i = 0; i + 1 < perWindow.length; i += 2) {
      const [x, y] = [perWindow[i], perWindow[i + 1]];
      if (x[0] !== y[0]) diffs.push(x[0] ? x[1] - y[1] : y[1] - x[1]);
    }
    diffs.sort((x, y) => x - y);
    const pairMedian = diffs.length ? diffs[diffs.length >> 1] : NaN;
    console.log(JSON.stringify({ load: JSON.parse(d), windows: w, trackingOnMsPerReq: +a.toFixed(4), trackingOffMsPerReq: +b.toFixed(4), trackingCostMs: +(a - b).toFixed(4), pairMedianCostMs: +pairMedian.toFixed(4), pairs: diffs.length,
      // requests the tracker left untracked because the process was overloaded (load > 0.8): such a run measures less than tracking
      sampledOut: t.tracker?.stats().sampledOut }));
    if (process.env.AB_FIXED) {
      await t.forceFlush();
      const counted = await (await fetch(`http://127.0.0.1:${sink.port}/count`)).json();
      console.log(JSON.stringify({ spansPerRequest: +(counted.traces / JSON.parse(d).ok).toFixed(3) }));
    }
    server.close(); server.closeAllConnections();
    sink.c.kill(); upstream.c.kill();
    t.shutdown().then(() => process.exit(0));
  });
})();
