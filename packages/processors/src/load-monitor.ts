import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { diag, SeverityNumber, type Counter, type MeterProvider } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api';
import { levelName, type LevelController } from './level';

/** A named 0..1 reading of how loaded something is. */
export type LoadSource = () => number;

export interface LoadMonitorOptions {
  /** The level whose floor is raised under load. */
  level: LevelController;
  /** Extra readings, e.g. a processor's queueFill or a tracker's load. Each returns 0..1. */
  sources?: LoadSource[];
  /** Sampling period. Default 1000 ms. */
  intervalMillis?: number;
  /** Load above this raises the floor to WARN. Default 0.6. */
  warnThreshold?: number;
  /** Load above this raises the floor to ERROR. Default 0.8. */
  errorThreshold?: number;
  /** The floor steps down only when load is this much below the threshold that raised it. Default 0.1. */
  hysteresis?: number;
  /** ...for this many consecutive samples. Default 5. */
  recoverySamples?: number;
  /**
   * After start(), samples in this period update `load` but do not raise the floor: a
   * process starting up (loading modules, warming caches) runs its event loop flat out
   * without being under load. Default 5000 ms.
   */
  warmupMillis?: number;
  /** Each change of floor is emitted here as one WARN record. */
  logger?: Logger;
  /** Counts floor changes (ccr.log.level.changes) and reports the load (ccr.process.load). */
  meterProvider?: MeterProvider;
  /** Event-loop utilization since the last sample, 0..1. Default: perf_hooks. Replace in tests. */
  eventLoopUtilization?: () => number;
  /** Heap used / heap limit, 0..1. Default: v8 heap statistics. Replace in tests. */
  heapUsage?: () => number;
}

export const LOAD_MONITOR_DEFAULTS = Object.freeze({
  intervalMillis: 1000,
  warnThreshold: 0.6,
  errorThreshold: 0.8,
  hysteresis: 0.1,
  recoverySamples: 5,
  warmupMillis: 5000,
});

function defaultElu(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return delta.utilization;
  };
}

function defaultHeap(): number {
  const h = getHeapStatistics();
  return h.used_heap_size / h.heap_size_limit;
}

function checkRatio(name: string, v: number): number {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw new RangeError(`${name} must be in (0, 1], got ${v}`);
  return v;
}

/**
 * Samples the process's load once per interval and raises the level floor while it is
 * high: load > errorThreshold → ERROR, > warnThreshold → WARN. Load is the highest of
 * event-loop utilization, heap used / heap limit and the extra sources. A raised floor
 * steps down only after `recoverySamples` consecutive samples at least `hysteresis`
 * below the threshold that raised it.
 */
export class LoadMonitor {
  private readonly level: LevelController;
  private readonly sources: LoadSource[];
  private readonly intervalMillis: number;
  private warnThreshold: number;
  private errorThreshold: number;
  private readonly hysteresis: number;
  private readonly recoverySamples: number;
  private readonly logger: Logger | undefined;
  private readonly elu: () => number;
  private readonly heap: () => number;
  private readonly changes: Counter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private calmSamples = 0;
  private readonly warmupMillis: number;
  /** Until then (performance.now()), samples do not raise the floor. */
  private warmUntil = 0;
  /** The last sampled load, 0..1 (or more, if a source reports more). */
  load = 0;
  /** 0 none, 1 WARN, 2 ERROR. */
  private state = 0;

  constructor(options: LoadMonitorOptions) {
    const o = { ...LOAD_MONITOR_DEFAULTS, ...stripUndefined(options) };
    this.level = options.level;
    this.sources = options.sources ?? [];
    if (!Number.isInteger(o.intervalMillis) || o.intervalMillis < 1) {
      throw new RangeError(`intervalMillis must be a positive integer, got ${o.intervalMillis}`);
    }
    this.intervalMillis = o.intervalMillis;
    this.warnThreshold = checkRatio('warnThreshold', o.warnThreshold);
    this.errorThreshold = checkRatio('errorThreshold', o.errorThreshold);
    if (this.warnThreshold >= this.errorThreshold) throw new RangeError('warnThreshold must be below errorThreshold');
    this.hysteresis = o.hysteresis;
    if (!(o.hysteresis >= 0 && o.hysteresis < 1)) throw new RangeError(`hysteresis must be in [0, 1), got ${o.hysteresis}`);
    if (!Number.isInteger(o.recoverySamples) || o.recoverySamples < 1) {
      throw new RangeError(`recoverySamples must be a positive integer, got ${o.recoverySamples}`);
    }
    this.recoverySamples = o.recoverySamples;
    if (!(o.warmupMillis >= 0)) throw new RangeError(`warmupMillis must be >= 0, got ${o.warmupMillis}`);
    this.warmupMillis = o.warmupMillis;
    this.logger = options.logger;
    this.elu = options.eventLoopUtilization ?? defaultElu();
    this.heap = options.heapUsage ?? defaultHeap;
    if (options.meterProvider) {
      const meter = options.meterProvider.getMeter('@ccr/otel-processors');
      this.changes = meter.createCounter('ccr.log.level.changes', {
        description: 'Changes of the log level floor made by the load monitor.',
      });
      meter
        .createObservableGauge('ccr.process.load', { description: 'Load seen by the load monitor, 0..1.' })
        .addCallback((r) => r.observe(this.load));
    }
  }

  start(): void {
    if (this.timer) return;
    this.warmUntil = globalThis.performance.now() + this.warmupMillis;
    this.timer = setInterval(this.tick, this.intervalMillis);
    this.timer.unref();
  }

  /** Stops sampling and lowers a floor this monitor raised: without samples it would never step down. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.calmSamples = 0;
    if (this.state > 0) this.change(0, this.load);
  }

  setThresholds(t: { warnThreshold?: number; errorThreshold?: number }): void {
    const warn = t.warnThreshold === undefined ? this.warnThreshold : checkRatio('warnThreshold', t.warnThreshold);
    const error = t.errorThreshold === undefined ? this.errorThreshold : checkRatio('errorThreshold', t.errorThreshold);
    if (warn >= error) throw new RangeError('warnThreshold must be below errorThreshold');
    this.warnThreshold = warn;
    this.errorThreshold = error;
  }

  /** Sampling runs in a timer: nothing it calls may throw into the host process. */
  private readonly tick = (): void => {
    try {
      this.sample();
    } catch (err) {
      diag.warn('LoadMonitor: sample failed', err);
    }
  };

  /** Takes one sample and applies the rules. Called by the interval; callable in tests. */
  sample(): number {
    let load = reading(this.elu);
    const heap = reading(this.heap);
    if (heap > load) load = heap;
    for (const s of this.sources) {
      const v = reading(s);
      if (v > load) load = v;
    }
    this.load = load;
    if (this.warmUntil > 0 && globalThis.performance.now() < this.warmUntil) return load;
    const wanted = load > this.errorThreshold ? 2 : load > this.warnThreshold ? 1 : 0;
    if (wanted > this.state) {
      this.calmSamples = 0;
      this.change(wanted, load);
    } else if (this.state > 0) {
      const raisedBy = this.state === 2 ? this.errorThreshold : this.warnThreshold;
      if (load <= raisedBy - this.hysteresis) {
        if (++this.calmSamples >= this.recoverySamples) {
          this.calmSamples = 0;
          // one step at a time: ERROR -> WARN -> none, each after its own calm period
          this.change(this.state - 1, load);
        }
      } else {
        this.calmSamples = 0;
      }
    }
    return load;
  }

  private change(state: number, load: number): void {
    const before = this.level.floor;
    const floor = state === 2 ? SeverityNumber.ERROR : state === 1 ? SeverityNumber.WARN : 0;
    const raising = state > this.state;
    this.state = state;
    // The record about the change is itself WARN: emit it while the floor still lets WARN through.
    if (raising) this.announce(before, floor, load);
    this.level.setLoadFloor(floor);
    if (!raising) this.announce(before, this.level.floor, load);
  }

  private announce(before: number, floorAsked: number, load: number): void {
    const after = Math.max(floorAsked, this.level.configuredLevel);
    const from = levelName(before);
    const to = levelName(after);
    if (from === to) return; // the configured level already covers it: nothing changed
    this.changes?.add(1, { 'ccr.log.level.from': from, 'ccr.log.level.to': to });
    this.logger?.emit({
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: `log level floor ${from} -> ${to} (load ${load.toFixed(2)})`,
      attributes: { 'ccr.log.level.from': from, 'ccr.log.level.to': to, 'ccr.process.load': load },
    });
  }
}

/** A reading that throws or is not a number counts as 0 (no load), with a debug line. */
function reading(source: () => number): number {
  let v: number;
  try {
    v = source();
  } catch (err) {
    diag.debug('LoadMonitor: a load source threw', err);
    return 0;
  }
  return typeof v === 'number' && v === v ? v : 0;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
