import type { Logger, MeterProvider } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api';

/**
 * Leak watch (from the performance guide): a heap sample every `intervalMillis` (default 30 s), kept for
 * `windowMillis` (24 h). When the mean of the last `samples` (10) exceeds the mean of the `samples`
 * before by more than `growthThreshold` (10 %), one WARN log record is emitted and the metric
 * ccr.leak_watch.suspected counts it; the next warning needs a new window of samples.
 */
export interface LeakWatchOptions {
  logger: Logger;
  meterProvider?: MeterProvider;
  intervalMillis?: number;
  windowMillis?: number;
  samples?: number;
  growthThreshold?: number;
  /** Injected in tests. */
  heapUsed?: () => number;
  now?: () => number;
}

export class LeakWatch {
  private readonly snapshots: Array<{ t: number; heap: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly o: Required<Omit<LeakWatchOptions, 'meterProvider'>>;
  private readonly counter: { add(n: number, a?: Record<string, string | number>): void } | undefined;
  /** Samples taken so far; the window may hold fewer. */
  private taken = 0;
  private quietUntil = 0;
  warnings = 0;
  lastGrowth = 0;

  constructor(opts: LeakWatchOptions) {
    this.o = {
      logger: opts.logger,
      intervalMillis: opts.intervalMillis ?? 30000,
      windowMillis: opts.windowMillis ?? 24 * 3600 * 1000,
      samples: opts.samples ?? 10,
      growthThreshold: opts.growthThreshold ?? 0.1,
      heapUsed: opts.heapUsed ?? (() => process.memoryUsage().heapUsed),
      now: opts.now ?? Date.now,
    };
    if (opts.meterProvider) {
      const meter = opts.meterProvider.getMeter('@ccr/otel-setup');
      this.counter = meter.createCounter('ccr.leak_watch.suspected', { description: 'Heap growth above the leak-watch threshold.' });
      meter
        .createObservableGauge('ccr.leak_watch.growth', { description: 'Heap growth, last samples vs the ones before (ratio).' })
        .addCallback((r) => r.observe(this.lastGrowth));
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.o.intervalMillis);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one snapshot and checks the trend; the timer calls it, tests may too. */
  sample(): void {
    const t = this.o.now();
    this.taken++;
    this.snapshots.push({ t, heap: this.o.heapUsed() });
    const cutoff = t - this.o.windowMillis;
    while (this.snapshots.length && this.snapshots[0].t < cutoff) this.snapshots.shift();
    const n = this.o.samples;
    if (this.snapshots.length < 2 * n) return;
    const len = this.snapshots.length;
    let recent = 0;
    let earlier = 0;
    for (let i = len - n; i < len; i++) recent += this.snapshots[i].heap;
    for (let i = len - 2 * n; i < len - n; i++) earlier += this.snapshots[i].heap;
    if (earlier <= 0) return;
    const growth = (recent - earlier) / earlier;
    this.lastGrowth = growth;
    if (growth > this.o.growthThreshold && this.taken >= this.quietUntil) {
      this.warnings++;
      this.quietUntil = this.taken + n;
      this.counter?.add(1);
      this.o.logger.emit({
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        body: `possible memory leak: heap grew ${(growth * 100).toFixed(1)}% (mean of the last ${n} samples vs the ${n} before)`,
        attributes: {
          'ccr.leak_watch.growth': growth,
          'ccr.leak_watch.heap_used_recent': Math.round(recent / n),
          'ccr.leak_watch.heap_used_earlier': Math.round(earlier / n),
        },
      });
    }
  }
}
