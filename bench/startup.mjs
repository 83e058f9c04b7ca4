// Start-up time and idle memory: `node -e 0` bare, with this preload (`-r @ccr/otel-setup`; also its
// unbundled dist/, to show what the bundle saves), and with
// the OpenTelemetry NodeSDK started with the same five instrumentations (when SDK_NODE_DIR names a
// directory where @opentelemetry/sdk-node 0.301 and those instrumentations are installed). Runs
// alternate; median of --runs (default 10). A local OTLP sink (bench/sink.mjs) stands for the collector.
// Two times: until the application's first line runs (performance.now() in -e), and the whole run of
// `-e 0` (start-up, the exit flush, exit).
//   SDK_NODE_DIR=/tmp/sdknode-cmp node bench/startup.mjs [--runs 10]
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 10;
const preload = join(here, '..', 'packages', 'otel-setup');
const sink = spawn(process.execPath, [join(here, 'sink.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => createInterface({ input: sink.stdout }).once('line', (l) => resolve(JSON.parse(l).port)));
const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'startup-bench' };
for (const k of Object.keys(env)) if (k === 'NODE_OPTIONS' || k === 'NODE_ENV' || (k.startsWith('OTEL_') && !['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME'].includes(k))) delete env[k];

// the same preload not bundled (tsc's dist/, about 390 modules): what the bundle (bundle.mjs) saves
const variants = [
  { name: 'node -e 0 (bare)', args: [] },
  { name: '-r @ccr/otel-setup', args: ['-r', preload] },
  { name: '-r @ccr/otel-setup, not bundled (dist/preload.js)', args: ['-r', join(preload, 'dist', 'preload.js')] },
];
if (process.env.SDK_NODE_DIR) {
  const file = join(process.env.SDK_NODE_DIR, 'sdk-node-preload.js');
  writeFileSync(
    file,
    `const { NodeSDK } = require('@opentelemetry/sdk-node');
const i = (p, c, o) => new (require(p)[c])(o);
new NodeSDK({ instrumentations: [i('@opentelemetry/instrumentation-http', 'HttpInstrumentation'), i('@opentelemetry/instrumentation-undici', 'UndiciInstrumentation'),
  i('@opentelemetry/instrumentation-pino', 'PinoInstrumentation'), i('@opentelemetry/instrumentation-winston', 'WinstonInstrumentation'),
  i('@opentelemetry/instrumentation-runtime-node', 'RuntimeNodeInstrumentation')] }).start();\n`,
  );
  variants.push({ name: 'NodeSDK (sdk-node 0.301.0), same instrumentations', args: ['-r', file] });
}

const RSS = "process.stdout.write(performance.now() + ' '); setTimeout(() => process.stdout.write(String(process.memoryUsage().rss)), 1500)";
const first = Object.fromEntries(variants.map((v) => [v.name, []]));
const whole = Object.fromEntries(variants.map((v) => [v.name, []]));
const rss = Object.fromEntries(variants.map((v) => [v.name, []]));
try {
  for (let r = 0; r < runs; r++) {
    for (const v of variants) {
      const t0 = process.hrtime.bigint();
      const a = spawnSync(process.execPath, [...v.args, '-e', '0'], { env, stdio: 'ignore' });
      if (a.status !== 0) throw new Error(`${v.name} exited with ${a.status}`);
      whole[v.name].push(Number(process.hrtime.bigint() - t0) / 1e6);
      const [t, m] = spawnSync(process.execPath, [...v.args, '-e', RSS], { env, encoding: 'utf8' }).stdout.split(' ').map(Number);
      first[v.name].push(t);
      rss[v.name].push(m / 2 ** 20);
    }
  }
} finally {
  sink.kill('SIGTERM');
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| ${runs} runs each, alternating, median | to the app's first line, ms | \`-e 0\` start to exit, ms | idle RSS MiB (after 1.5 s) |`);
console.log('|---|---:|---:|---:|');
for (const v of variants) console.log(`| ${v.name} | ${median(first[v.name]).toFixed(0)} | ${median(whole[v.name]).toFixed(0)} | ${median(rss[v.name]).toFixed(1)} |`);
