/**
 * Child process for the spill, fault and outage suites (and bench/outage.mjs), started with the preload
 * (node -r packages/otel-setup): emits RATE records per second for DURATION_MS, each with attributes run
 * and seq, printing `{"at":<ms>,"seq":<emitted so far>}` every 100 ms (every second also `mem`, the
 * process's memory, and from the preload's stats `exported`, `spilled`, `queued`, `belowLevel`, the
 * level `floor` and the `load` it reads); then prints
 * `{"emitted":N,"stats":...}` and ends:
 * - by default with SIGTERM (the preload flushes, and spills what it cannot send);
 * - EXIT=exit: by process.exit(0), records still queued (the preload spills them on 'exit');
 * - EXIT=shutdown: awaits the preload's shutdown(), prints `{"final":<stats after it>}`, then
 *   process.exit(0): the final counts, nothing queued or in flight any more.
 * SIGUSR2 ends the emitting early, as if DURATION_MS were over.
 * SIGNAL=spans emits spans (one ended span per record, from the tracer) instead of log records; the
 * stats printed are then the span processor's.
 * With RATE=0 it emits nothing and only prints the preload's stats every 500 ms (a successor that
 * replays what a dead process left).
 */
'use strict';
const { logs, trace, SeverityNumber } = require('@opentelemetry/api');
const otel = require(process.env.OTEL_SETUP_DIR);

const rate = Number(process.env.RATE || 2000);
let durationMs = Number(process.env.DURATION_MS || 10000);
const run = process.env.RUN || `run-${process.pid}`;
const spans = process.env.SIGNAL === 'spans';
const logger = logs.getLogger('spill-test');
const tracer = trace.getTracer('spill-test');
const t0 = Date.now();
let seq = 0;
// SIGUSR2: stop emitting now and end as at the end of DURATION_MS (a bench that waits for the replay)
process.on('SIGUSR2', () => {
  durationMs = Math.min(durationMs, Date.now() - t0);
});
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const signalStats = () => otel.stats()?.[spans ? 'spans' : 'logs'];

function emit() {
  if (spans) tracer.startSpan(`op ${seq}`, { attributes: { run, seq } }).end();
  else logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: `record ${seq} of ${run}`, attributes: { run, seq } });
}

let lastPrint = 0;
let lastMem = 0;
const timer = setInterval(() => {
  const now = Date.now();
  const due = Math.min(Math.round(((now - t0) * rate) / 1000), Math.round((durationMs * rate) / 1000));
  while (seq < due) {
    emit();
    seq++;
  }
  if (now - lastPrint >= (rate > 0 ? 100 : 500)) {
    lastPrint = now;
    const line = rate > 0 ? { at: now, seq } : { at: now, stats: signalStats() };
    if (rate > 0 && now - lastMem >= 1000) {
      lastMem = now;
      const m = process.memoryUsage();
      const all = otel.stats();
      const s = all?.[spans ? 'spans' : 'logs'];
      Object.assign(line, {
        mem: { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers },
        exported: s?.exported,
        spilled: s?.spilled,
        queued: s?.queued,
        belowLevel: s?.dropped.below_level,
        floor: all?.level?.floor,
        load: all?.load,
      });
    }
    print(line);
  }
  if (now - t0 >= durationMs) {
    clearInterval(timer);
    print({ emitted: seq, stats: signalStats() });
    if (process.env.EXIT === 'exit') process.exit(0);
    else if (process.env.EXIT === 'shutdown') {
      otel.shutdown().then(() => {
        print({ final: signalStats() });
        process.exit(0);
      });
    } else process.kill(process.pid, 'SIGTERM');
  }
}, 10);
