// Where a request's time goes inside the gateway, by method: wall time of every method of the
// request path's classes (request tracking, GenAI call and parser, the redacting and batching span
// processors, the tracker and its handles, the SDK's Span and Tracer, instrumentation-undici), per
// request, measured in the loaded gateway itself, where caches are shared with node's own work
// (each part costs several times what it costs alone in a loop). Nested calls count in both the
// caller and the callee; each wrapped call adds about 0.1 µs. Also the GC pauses seen meanwhile.
// Load it into the unbundled preload (the bundle's classes are not reachable from outside):
//
//   node bench/gateway/run.mjs --runs 1 --rates 300 --alt-preload packages/otel-setup/dist/preload.js \
//     --variants "bare,alt+NODE_OPTIONS=--require $PWD/bench/gateway/method-times.cjs"
//
// (an absolute path: NODE_OPTIONS' --require takes a bare name for a package).
//
// The table is written at the gateway's exit to METHOD_TIMES_OUT (default: method-times-PID.txt in
// the temporary directory). A measuring aid, not part of the product: it replaces prototype methods.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PerformanceObserver } = require('node:perf_hooks');

const dist = path.join(__dirname, '..', '..', 'packages', 'otel-setup', 'dist');
const fromDist = (id) => require(require.resolve(id, { paths: [dist] }));
const times = new Map();
let requests = 0;

function wrap(owner, label) {
  for (const key of Object.getOwnPropertyNames(owner)) {
    if (key === 'constructor' || key === 'prototype' || key === 'length' || key === 'name') continue;
    const d = Object.getOwnPropertyDescriptor(owner, key);
    if (!d || typeof d.value !== 'function') continue;
    const orig = d.value;
    const acc = [0, 0];
    times.set(`${label}.${key}`, acc);
    owner[key] = function (...args) {
      const t = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        acc[0] += performance.now() - t;
        acc[1]++;
      }
    };
  }
}

const { HttpRequestTracking } = require(path.join(dist, 'request-tracking.js'));
wrap(HttpRequestTracking.prototype, 'Tracking');
wrap(HttpRequestTracking, 'Tracking (static)');
wrap(require(path.join(dist, 'genai', 'upstream-call.js')).GenAiCall.prototype, 'GenAiCall');
wrap(require(path.join(dist, 'genai', 'response-parser.js')).ResponseParser.prototype, 'ResponseParser');
wrap(require(path.join(dist, 'genai', 'json-window.js')).JsonWindow.prototype, 'JsonWindow');
wrap(require(path.join(dist, 'genai', 'metrics.js')).GenAiMetrics.prototype, 'GenAiMetrics');
const redacting = require(path.join(dist, 'redacting-processors.js'));
wrap(redacting.RedactingSpanProcessor.prototype, 'RedactingSpanProcessor');
wrap(redacting.RedactingLogRecordProcessor.prototype, 'RedactingLogRecordProcessor');
const processors = fromDist('@ccr/otel-processors');
wrap(processors.BatchingSpanProcessor.prototype, 'BatchingSpanProcessor');
wrap(processors.RequestTracker.prototype, 'RequestTracker');
const sdkTrace = fromDist('@opentelemetry/sdk-trace');
const tracer = new sdkTrace.TracerProvider().getTracer('method-times');
wrap(Object.getPrototypeOf(tracer.startSpan('probe')), 'Span');
wrap(Object.getPrototypeOf(tracer), 'Tracer');
wrap(fromDist('@opentelemetry/instrumentation-undici').UndiciInstrumentation.prototype, 'UndiciInstrumentation');
// requests are counted by trackRequest; a handle's class (TrackedRequest) is reached through the first one
const trackRequest = processors.RequestTracker.prototype.trackRequest;
let handleWrapped = false;
processors.RequestTracker.prototype.trackRequest = function (...args) {
  requests++;
  const h = trackRequest.apply(this, args);
  if (!handleWrapped && h?.constructor?.name === 'TrackedRequest') {
    handleWrapped = true;
    wrap(Object.getPrototypeOf(h), 'RequestHandle');
  }
  return h;
};

const gc = { count: 0, ms: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.ms += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

process.on('exit', () => {
  const rows = [...times]
    .filter(([, [, n]]) => n > 0)
    .map(([name, [ms, n]]) => ({ name, usPerRequest: requests ? (ms * 1000) / requests : 0, callsPerRequest: requests ? n / requests : 0 }))
    .sort((a, b) => b.usPerRequest - a.usPerRequest);
  // the bundled preload's classes are its own copies: nothing here was called
  if (requests === 0) process.stderr.write('method-times: no request was tracked through dist/ (is the preload the unbundled dist/preload.js?)\n');
  const lines = [
    `requests ${requests}; GC pauses ${gc.count}, ${gc.ms.toFixed(0)} ms in all, longest ${gc.maxMs.toFixed(1)} ms`,
    ...rows.map((r) => `${r.usPerRequest.toFixed(2).padStart(9)} µs/request ${r.callsPerRequest.toFixed(2).padStart(7)} calls/request  ${r.name}`),
  ];
  fs.writeFileSync(process.env.METHOD_TIMES_OUT || path.join(os.tmpdir(), `method-times-${process.pid}.txt`), lines.join('\n') + '\n');
});
