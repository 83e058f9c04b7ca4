/**
 * Child process for collector-kill.test.ts, started with the preload (node -r packages/otel-setup):
 * emits RATE log records per second for DURATION_MS through the logs API, each with attributes
 * run and seq, then prints `{"emitted":N}` and ends with SIGTERM (the preload flushes on it).
 */
'use strict';
const { logs, SeverityNumber } = require('@opentelemetry/api');

const rate = Number(process.env.RATE || 4000);
const durationMs = Number(process.env.DURATION_MS || 10000);
const run = process.env.RUN || `run-${process.pid}`;
const logger = logs.getLogger('collector-kill-test');
const tickMs = 10;
const t0 = Date.now();
let seq = 0;

const timer = setInterval(() => {
  // one reading of the clock per tick: the last tick emits exactly the total
  const elapsed = Date.now() - t0;
  const total = Math.round((durationMs * rate) / 1000);
  const due = elapsed >= durationMs ? total : Math.min(Math.round((elapsed * rate) / 1000), total);
  while (seq < due) {
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: `record ${seq} of ${run}`, attributes: { run, seq } });
    seq++;
  }
  if (elapsed >= durationMs) {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ emitted: seq })}\n`);
    process.kill(process.pid, 'SIGTERM');
  }
}, tickMs);
