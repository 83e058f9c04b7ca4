import type { Context } from '@opentelemetry/api';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import { BatchingEngine, type ProcessorStats } from './engine';
import { resolveBatchingOptions, type BatchingLimits, type BatchingOptions, type ResolvedBatchingOptions } from './options';
import type { LevelController } from './level';
import { LOG_RECORD_CODEC } from './log-record-codec';

export interface BatchingLogRecordProcessorOptions extends BatchingOptions {
  exporter: LogRecordExporter;
  /** Minimum-severity gate, shared with a LoadMonitor. Default: none (everything passes). */
  level?: LevelController;
}

/**
 * Priority class of a severity number: 0 trace, 1 debug, 2 info (and unspecified),
 * 3 warn, 4 error, 5 fatal. A full queue sheds the lowest class first.
 */
export function severityClass(severity: number | undefined): number {
  if (!severity) return 2;
  const c = ((severity - 1) >> 2);
  return c < 0 ? 0 : c > 5 ? 5 : c;
}

/**
 * A LogRecordProcessor that batches records for an exporter without losing any it does
 * not count: see {@link BatchingEngine}. When a full queue must drop, it drops the
 * least severe record first. With a {@link LevelController} it refuses records below
 * the floor in `enabled()`, before the SDK creates them.
 */
export class BatchingLogRecordProcessor implements LogRecordProcessor {
  private readonly engine: BatchingEngine<ReadableLogRecord>;
  private readonly level: LevelController | undefined;

  constructor(options: BatchingLogRecordProcessorOptions) {
    if (!options || !options.exporter) throw new TypeError('BatchingLogRecordProcessor: options.exporter is required');
    this.level = options.level;
    this.engine = new BatchingEngine<ReadableLogRecord>(
      options.exporter,
      resolveBatchingOptions(options, 'OTEL_BLRP'),
      {
        classes: 6,
        signal: 'log',
        componentType: 'batching_log_processor',
        unit: '{log_record}',
        processorName: 'BatchingLogRecordProcessor',
        codec: LOG_RECORD_CODEC,
      },
      options.meterProvider,
    );
  }

  enabled(options: {
    context: Context;
    instrumentationScope: InstrumentationScope;
    severityNumber?: number;
    eventName?: string;
  }): boolean {
    const level = this.level;
    if (level === undefined || level.isEnabled(options.severityNumber)) return true;
    this.engine.dropBelowLevel();
    return false;
  }

  onEmit(logRecord: ReadWriteLogRecord, _context?: Context): void {
    const sev = logRecord.severityNumber;
    if (this.level !== undefined && !this.level.isEnabled(sev)) {
      this.engine.dropBelowLevel();
      return;
    }
    this.engine.offer(logRecord, severityClass(sev));
  }

  forceFlush(): Promise<void> {
    return this.engine.forceFlush();
  }

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

  stats(): ProcessorStats {
    return this.engine.stats();
  }

  /** 0..1: how full the queue is. A LoadMonitor source. */
  queueFill(): number {
    return this.engine.queueFill();
  }
}
