import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { LoggerProvider, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MetricReader } from '@opentelemetry/sdk-metrics';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';

export type Mode = 'ok' | 'fail' | 'throw' | 'hang' | 'manual';

/** A test exporter whose behaviour per call is scripted; records what it accepted. */
export class ScriptedExporter<T = ReadableLogRecord> {
  readonly accepted: T[] = [];
  readonly calls: number[] = [];
  readonly pending: Array<{ items: T[]; cb: (r: ExportResult) => void }> = [];
  maxConcurrent = 0;
  private inFlight = 0;
  shutdownCalls = 0;
  constructor(public modes: Mode[] | ((call: number) => Mode) = () => 'ok') {}

  export(items: T[], cb: (r: ExportResult) => void): void {
    const call = this.calls.length;
    this.calls.push(items.length);
    const mode = typeof this.modes === 'function' ? this.modes(call) : (this.modes[call] ?? 'ok');
    if (mode === 'throw') throw new Error('exporter exploded');
    if (mode === 'hang') return;
    if (mode === 'fail') return cb({ code: ExportResultCode.FAILED, error: new Error('nope') });
    if (mode === 'manual') {
      this.inFlight++;
      this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
      this.pending.push({ items: items.slice(), cb: (r) => { this.inFlight--; cb(r); } });
      return;
    }
    this.accepted.push(...items);
    cb({ code: ExportResultCode.SUCCESS });
  }

  /** Completes the oldest manual export successfully. */
  completeOne(): void {
    const p = this.pending.shift();
    if (!p) throw new Error('no pending export');
    this.accepted.push(...p.items);
    p.cb({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
  }
  async forceFlush(): Promise<void> {}
}

export function loggerFor(processor: LogRecordProcessor) {
  const provider = new LoggerProvider({ processors: [processor] });
  return { provider, logger: provider.getLogger('test') };
}

export class TestMetricReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Sum of a collected metric's data points, optionally filtered by attributes. */
export async function metricPoints(reader: TestMetricReader, name: string) {
  const { resourceMetrics } = await reader.collect();
  const points: Array<{ value: unknown; attributes: Record<string, unknown> }> = [];
  for (const sm of resourceMetrics.scopeMetrics)
    for (const m of sm.metrics)
      if (m.descriptor.name === name) for (const dp of m.dataPoints) points.push({ value: dp.value, attributes: dp.attributes });
  return points;
}

export const tick = () => new Promise<void>((r) => setImmediate(r));

/** Ticks until `cond` holds (at most `max` ticks): the pump works in short slices across ticks. */
export async function ticksUntil(cond: () => boolean, max = 50): Promise<void> {
  for (let i = 0; i < max && !cond(); i++) await tick();
}
