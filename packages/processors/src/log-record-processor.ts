import type { Context } from '@opentelemetry/api';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import { BatchingProcessor } from './batching-processor';
import type { BatchingOptions } from './options';
import type { LevelController } from './level';
import type { EncodedBatchExporter } from './encoded-exporter';
import { decodeLogRecords } from './otlp-decoder';

export interface BatchingLogRecordProcessorOptions extends BatchingOptions {
  /**
   * Where batches go: an {@link OtlpHttpExporter} sends the encoded bytes as they are
   * (the fast path); an SDK LogRecordExporter gets each batch decoded into records.
   */
  exporter: LogRecordExporter | EncodedBatchExporter;
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
 * the floor in `enabled()`, before the SDK creates them, and counts as `below_level` those
 * that reach `onEmit` below the floor; {@link countRefusedEmits} counts those the SDK refused
 * before any processor saw them. Each refused record counts once; enabled() checks never count.
 */
export class BatchingLogRecordProcessor extends BatchingProcessor<ReadableLogRecord> implements LogRecordProcessor {
  private readonly level: LevelController | undefined;

  constructor(options: BatchingLogRecordProcessorOptions) {
    super(options, 'OTEL_BLRP', {
      classes: 6,
      signal: 'log',
      componentType: 'batching_log_processor',
      unit: '{log_record}',
      processorName: 'BatchingLogRecordProcessor',
    }, (e) => e.logRecord as never, decodeLogRecords);
    this.level = options.level;
  }

  enabled(options: {
    context: Context;
    instrumentationScope: InstrumentationScope;
    severityNumber?: number;
    eventName?: string;
  }): boolean {
    // A check, not a record: nothing is counted here (a refused record counts once, in onEmit).
    const level = this.level;
    return level === undefined || level.isEnabled(options.severityNumber);
  }

  /** true when records of this severity pass the level (or there is no level). */
  isAtLevel(severityNumber: number | undefined): boolean {
    return this.level === undefined || this.level.isEnabled(severityNumber);
  }

  /** Counts one record refused below the level before it reached onEmit (see countRefusedEmits). */
  countBelowLevel(): void {
    this.engine.dropBelowLevel();
  }

  /** Counts one record whose creation threw (see countRefusedEmits): dropped as `unreadable`. */
  countUnreadable(): void {
    this.engine.dropUnreadable();
  }

  onEmit(logRecord: ReadWriteLogRecord, _context?: Context): void {
    const sev = logRecord.severityNumber;
    if (this.level !== undefined && !this.level.isEnabled(sev)) {
      this.engine.dropBelowLevel();
      return;
    }
    this.engine.offer(logRecord, severityClass(sev));
  }
}
