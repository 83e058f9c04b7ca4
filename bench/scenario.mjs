// Runs one benchmark scenario in this process and prints one JSON line with its result.
// Each scenario runs in a fresh process (see run.mjs) so peak RSS belongs to it alone.
//   node scenario.mjs '{"kind":"burst","processor":"sdk","exporter":"otlp","sinkUrl":"http://127.0.0.1:1234", ...}'
import { openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { SeverityNumber } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';

const cfg = JSON.parse(process.argv[2]);
// processorsDist: another build of @ccr/otel-processors (its dist directory), to compare two builds side by side
const { BatchingEngine, BatchingLogRecordProcessor, BatchingSpanProcessor, OtlpHttpExporter, RequestTracker } = await import(
  cfg.processorsDist ? pathToFileURL(join(cfg.processorsDist, 'index.js')).href : '@ccr/otel-processors'
);

/** Counts what a no-op exporter was given; the OTLP sink counts for the real one. */
class NoopExporter {
  accepted = 0;
  export(items, cb) {
    this.accepted += items.length;
    cb({ code: ExportResultCode.SUCCESS });
  }
  async shutdown() {}
  async forceFlush() {}
}

/** The same emit loop with a processor that does nothing: the baseline for loop delay and CPU. */
class NoopProcessor {
  accepted = 0;
  onEmit() {
    this.accepted++;
  }
  onStart() {}
  onEnd() {
    this.accepted++;
  }
  async forceFlush() {}
  async shutdown() {}
}

function makeExporter(signal) {
  if (cfg.exporter === 'noop') return new NoopExporter();
  const url = `${cfg.sinkUrl}/v1/${signal}`;
  // ours sends its encoded batches itself; the SDK's processors get the SDK's OTLP/protobuf exporters
  if (cfg.processor === 'ccr') return new OtlpHttpExporter(signal, { url, env: {}, ...(cfg.exporterOptions ?? {}) });
  return signal === 'logs' ? new OTLPLogExporter({ url }) : new OTLPTraceExporter({ url });
}

/**
 * Synchronous tasks of the processor's own (ours: each pump slice, which assembles and sends
 * batches; the SDK's: each _exportOneBatch (logs) or _flushOneBatch (spans), which serialize
 * and send): the longest, the 99th percentile and how many took over 1 ms, wall time. Wraps
 * the prototype methods, so it sees every call. On a shared machine the wall time of a task
 * also counts time the OS gave the core to another process: less the time the thread waited
 * for a core (schedstat, in ns; process.threadCpuUsage() advances in scheduler ticks here), it does not.
 */
const gcSpans = []; // [start, end] of every GC pause, performance.now() time
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcSpans.push([e.startTime, e.startTime + e.duration]);
}).observe({ entryTypes: ['gc'] });

/**
 * Time this thread has waited, runnable, for a core, ns (Linux: /proc/thread-self/schedstat,
 * second field, added each time it gets the core back), or undefined elsewhere: a task's wall
 * time less what it waited is its time on the CPU, without the time other processes had the core.
 */
const schedstat = (() => {
  try {
    const fd = openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(128);
    return () => Number(buf.toString('latin1', 0, readSync(fd, buf, 0, 128, 0)).split(' ')[1]);
  } catch {
    return undefined;
  }
})();

function taskTimer() {
  const durations = [];
  const spans = [];
  const onCpu = [];
  const t00 = performance.now();
  /** The tasks over 1 ms, wall or on CPU: [ms since the processor was set up, wall ms, on-CPU ms, which], the first 20. */
  const longTasks = [];
  const wrap = (proto, name) => {
    while (proto && !Object.hasOwn(proto, name)) proto = Object.getPrototypeOf(proto);
    const orig = proto?.[name];
    if (typeof orig !== 'function') throw new Error(`no ${name} to time`);
    proto[name] = function (...args) {
      const c0 = schedstat?.();
      const t0 = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        const t1 = performance.now();
        durations.push(t1 - t0);
        spans.push(t0, t1);
        const cpuMs = c0 !== undefined ? t1 - t0 - (schedstat() - c0) / 1e6 : undefined;
        if (cpuMs !== undefined) onCpu.push(cpuMs);
        if ((t1 - t0 > 1 || cpuMs > 1) && longTasks.length < 20) longTasks.push([+(t0 - t00).toFixed(1), +(t1 - t0).toFixed(2), cpuMs === undefined ? null : +cpuMs.toFixed(2), name]);
      }
    };
  };
  if (cfg.processor === 'ccr') wrap(BatchingEngine.prototype, 'pump');
  else if (cfg.processor === 'sdk') {
    wrap(BatchLogRecordProcessor.prototype, '_exportOneBatch');
    wrap(BatchSpanProcessor.prototype, '_flushOneBatch');
  }
  return () => {
    // the same tasks less the GC pauses inside them (a scavenge runs in whichever task allocates
    // when the young generation is full, mostly filled here by the SDK's own records)
    const exGc = [];
    let g = 0;
    for (let i = 0; i < spans.length; i += 2) {
      const [a, b] = [spans[i], spans[i + 1]];
      while (g < gcSpans.length && gcSpans[g][1] < a) g++;
      let gc = 0;
      for (let k = g; k < gcSpans.length && gcSpans[k][0] < b; k++) gc += Math.max(0, Math.min(b, gcSpans[k][1]) - Math.max(a, gcSpans[k][0]));
      exGc.push(b - a - gc);
    }
    const stats = (xs) => {
      const d = xs.sort((x, y) => x - y);
      const at = (q) => (d.length ? +d[Math.min(d.length - 1, Math.floor(q * d.length))].toFixed(3) : 0);
      return [at(1), at(0.99), d.filter((x) => x > 1).length];
    };
    const [longestTaskMs, taskP99Ms, tasksOver1ms] = stats(durations);
    const [longestTaskExGcMs, taskExGcP99Ms, tasksExGcOver1ms] = stats(exGc);
    const cpu = {};
    if (schedstat) [cpu.longestTaskCpuMs, cpu.taskCpuP99Ms, cpu.tasksCpuOver1ms] = stats(onCpu);
    return { longestTaskMs, taskP99Ms, tasksOver1ms, longestTaskExGcMs, taskExGcP99Ms, tasksExGcOver1ms, ...cpu, tasks: durations.length, longTasks };
  };
}
const stopTasks = taskTimer();

async function delivered(exporter, signal) {
  if (exporter instanceof NoopExporter || exporter instanceof NoopProcessor) return exporter.accepted;
  const r = await fetch(`${cfg.sinkUrl}/count`);
  return (await r.json())[signal];
}


function gcCounter() {
  let count = 0;
  let ms = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      count++;
      ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return () => {
    obs.disconnect();
    return { gcCount: count, gcMillis: Math.round(ms) };
  };
}

const yieldToLoop = () => new Promise((r) => setImmediate(r));

function logSetup() {
  if (cfg.processor === 'noop') {
    const processor = new NoopProcessor();
    const provider = new LoggerProvider({ processors: [processor] });
    return { exporter: processor, processor, provider, logger: provider.getLogger('bench') };
  }
  const exporter = makeExporter('logs');
  const processor =
    cfg.processor === 'sdk'
      ? new BatchLogRecordProcessor({ exporter, ...(cfg.sdkOptions ?? {}) })
      : new BatchingLogRecordProcessor({ exporter, env: {}, ...(cfg.ccrOptions ?? {}) });
  const provider = new LoggerProvider({ processors: [processor] });
  return { exporter, processor, provider, logger: provider.getLogger('bench') };
}

function emitOne(logger, i) {
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: 'request forwarded to provider',
    attributes: { 'ccr.request.id': i, 'http.route': '/v1/messages', 'gen_ai.request.model': 'claude-sonnet' },
  });
}

async function finish(ctx, signal, emitted, extra) {
  const flushStart = performance.now();
  await Promise.race([ctx.processor.forceFlush(), new Promise((r) => setTimeout(r, cfg.flushTimeoutMs ?? 60000))]);
  const flushMs = performance.now() - flushStart;
  const got = await delivered(ctx.exporter, signal);
  // The SDK's processors count drops only on a self-observability meter, which costs
  // them a metric update per dropped record: they run with their defaults (no meter),
  // and what they lost is inferred from the sink.
  const dropped =
    cfg.processor !== 'ccr'
      ? emitted > got
        ? { 'not counted (inferred)': emitted - got }
        : {}
      : Object.fromEntries(Object.entries(ctx.processor.stats().dropped).filter(([, v]) => v > 0));
  return {
    ...cfg,
    sinkUrl: undefined,
    emitted,
    delivered: got,
    dropped,
    droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0),
    flushMs: Math.round(flushMs),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000),
    // the main thread alone (the event loop's CPU; process CPU also counts GC helpers, the thread pool and a send worker)
    mainThreadCpuMs: Math.round((process.threadCpuUsage().user + process.threadCpuUsage().system) / 1000),
    ...stopTasks(),
    ...extra,
  };
}

/** Event-loop delay over the whole scenario, and its max after the first 250 ms (warm-up told from the steady state). */
function loopDelay() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const later = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t = setTimeout(() => later.enable(), 250);
  return () => {
    clearTimeout(t);
    h.disable();
    later.disable();
    return {
      loopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(2),
      loopDelayMaxMs: +(h.max / 1e6).toFixed(1),
      loopDelayMaxAfter250Ms: +(later.max / 1e6).toFixed(1),
    };
  };
}

async function burst() {
  const ctx = logSetup();
  const n = cfg.records ?? 1_000_000;
  const every = cfg.yieldEvery ?? 65_536;
  const stopDelay = loopDelay();
  const stopGc = gcCounter();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    emitOne(ctx.logger, i);
    if ((i + 1) % every === 0) await yieldToLoop();
  }
  const emitMs = performance.now() - t0;
  const res = await finish(ctx, 'logs', n, { emitsPerSec: Math.round(n / (emitMs / 1000)) });
  return { ...res, ...stopDelay(), ...stopGc() };
}

async function sustained() {
  const ctx = logSetup();
  const rate = cfg.rate;
  const durationMs = cfg.durationMs ?? 5000;
  const stopDelay = loopDelay();
  const stopGc = gcCounter();
  let emitted = 0;
  const total = Math.round((rate * durationMs) / 1000);
  // At most 10 ms worth of records per task, as an application would: a loop that falls behind
  // catches up in later tasks (the rate achieved is reported) instead of in one giant task.
  const maxPerTask = Math.max(100, Math.round(rate / 100));
  if (cfg.startPauseMs) {
    // an application's start: one record (a "listening" line), then its traffic startPauseMs later
    emitOne(ctx.logger, emitted++);
    await new Promise((r) => setTimeout(r, cfg.startPauseMs));
  }
  /** The emit loop's own tasks over 4 ms: [ms since its start, wall ms, on-CPU ms], the first 20. */
  const longEmitTasks = [];
  const emitted0 = emitted;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const due = Math.min(emitted0 + Math.floor((rate * elapsed) / 1000), total, emitted + maxPerTask);
      const c0 = schedstat?.();
      const a = performance.now();
      while (emitted < due) emitOne(ctx.logger, emitted++);
      const wall = performance.now() - a;
      if (wall > 4 && longEmitTasks.length < 20) longEmitTasks.push([+(a - t0).toFixed(1), +wall.toFixed(2), c0 === undefined ? null : +(wall - (schedstat() - c0) / 1e6).toFixed(2)]);
      if (emitted >= total) resolve();
      else if (due === emitted && emitted0 + Math.floor((rate * (performance.now() - t0)) / 1000) > emitted) setImmediate(tick);
      else setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
  });
  const emitSeconds = (performance.now() - t0) / 1000;
  const delay = stopDelay();
  const res = await finish(ctx, 'logs', emitted, { rate, achievedRate: Math.round(emitted / emitSeconds), longEmitTasks });
  return { ...res, deliveredPct: +((100 * res.delivered) / emitted).toFixed(2), ...delay, ...stopGc() };
}

async function spans() {
  const processor =
    cfg.processor === 'noop'
      ? new NoopProcessor()
      : cfg.processor === 'sdk'
        ? new BatchSpanProcessor({ exporter: makeExporter('traces') })
        : new BatchingSpanProcessor({ exporter: makeExporter('traces'), env: {} });
  const exporter = cfg.processor === 'noop' ? processor : undefined;
  const tracer = new TracerProvider({ spanProcessors: [processor] }).getTracer('bench');
  const tracker = new RequestTracker({ tracer });
  const n = cfg.requests ?? 500_000;
  const every = cfg.yieldEvery ?? 1000;
  const stopDelay = loopDelay();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const req = tracker.trackRequest(String(i), { 'http.route': '/v1/messages' });
    req.startPhase('upstream');
    req.endPhase('upstream');
    req.complete(true);
    if ((i + 1) % every === 0) await yieldToLoop();
  }
  const ms = performance.now() - t0;
  const res = await finish({ exporter, processor }, 'traces', n, { opsPerSec: Math.round(n / (ms / 1000)), usPerOp: +((1000 * ms) / n).toFixed(2) });
  tracker.shutdown();
  return { ...res, ...stopDelay() };
}

const run = { burst, sustained, spans }[cfg.kind];
if (!run) throw new Error(`unknown scenario kind ${cfg.kind}`);
if (cfg.exporter === 'otlp') await fetch(`${cfg.sinkUrl}/reset`, { method: 'POST' });
const result = await run();
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
