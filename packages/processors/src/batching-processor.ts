import type { MeterProvider } from '@opentelemetry/api';
import { BatchingEngine, type BatchExporter, type EngineSignal, type ProcessorStats } from './engine';
import { resolveBatchingOptions, type BatchingLimits, type BatchingOptions, type EnvPrefix, type ResolvedBatchingOptions } from './options';

/**
 * What the log and span processors share: options resolved (explicit, else the standard
 * variables under `prefix`, else the defaults), one engine, and the lifecycle and
 * introspection methods. The subclasses only decide what a record's priority class is.
 */
export abstract class BatchingProcessor<T> {
  protected readonly engine: BatchingEngine<T>;

  protected constructor(
    options: BatchingOptions & { exporter: BatchExporter<T> },
    prefix: EnvPrefix,
    signal: EngineSignal,
  ) {
    if (!options || !options.exporter) throw new TypeError(`${signal.processorName}: options.exporter is required`);
    this.engine = new BatchingEngine<T>(options.exporter, resolveBatchingOptions(options, prefix), signal, options.meterProvider as MeterProvider | undefined);
  }

  /** Resolves once every record queued before the call is exported or counted as dropped. */
  forceFlush(): Promise<void> {
    return this.engine.forceFlush();
  }

  /** Flushes, then shuts the exporter down; idempotent. Later records count as `shutdown`. */
  shutdown(): Promise<void> {
    return this.engine.shutdown();
  }

  /** Changes limits while running; see {@link BatchingEngine.setOptions}. */
  setOptions(patch: BatchingLimits): void {
    this.engine.setOptions(patch);
  }

  /** The options in force, defaults and variables resolved. */
  getOptions(): Readonly<ResolvedBatchingOptions> {
    return this.engine.getOptions();
  }

  /** Exported, dropped by reason, queued and in flight. */
  stats(): ProcessorStats {
    return this.engine.stats();
  }

  /** 0..1: how full the queue is. A LoadMonitor source. */
  queueFill(): number {
    return this.engine.queueFill();
  }
}
