/**
 * Child process for spill.test.ts, started with the preload (node -r packages/otel-setup): emits RATE
 * log records per second for DURATION_MS through the logs API (attributes run and seq), printing
 * `{"at":<ms>,"seq":<emitted so far>}` every 100 ms; then prints `{"emitted":N,"stats":...}` and ends
 * with SIGTERM (the preload flushes, and spills what it cannot send), or with EXIT=exit by process.exit(0). With RATE=0 it emits nothing
 * and only prints the preload's stats every 500 ms (a successor that replays what a dead process left).
 */
'use strict';
const { logs, SeverityNumber } = require('@opentelemetry/api');
const otel = require(process.env.OTEL_SETUP_DIR);

const rate = Number(process.env.RATE || 2000);
const durationMs = Number(process.env.DURATION_MS || 10000);
const run = process.env.RUN || `run-${process.pid}`;
const logger = logs.getLogger('spill-test');
const t0 = Date.now();
let seq = 0;
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

let lastPrint = 0;
const timer = setInterval(() => {
  const now = Date.now();
  const due = Math.min(Math.round(((now - t0) * rate) / 1000), Math.round((durationMs * rate) / 1000));
  while (seq < due) {
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: `record ${seq} of ${run}`, attributes: { run, seq } });
    seq++;
  }
  if (now - lastPrint >= (rate > 0 ? 100 : 500)) {
    lastPrint = now;
    print(rate > 0 ? { at: now, seq } : { at: now, stats: otel.stats()?.logs });
  }
  if (now - t0 >= durationMs) {
    clearInterval(timer);
    print({ emitted: seq, stats: otel.stats()?.logs });
    // EXIT=exit: the app ends itself at once, records still queued (the preload spills them on 'exit')
    if (process.env.EXIT === 'exit') process.exit(0);
    else process.kill(process.pid, 'SIGTERM');
  }
}, 10);
