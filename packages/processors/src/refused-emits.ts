import { diag, type LogRecord } from '@opentelemetry/api';
import type { BatchingLogRecordProcessor } from './log-record-processor';

interface SdkLogger {
  emit(record: LogRecord): void;
  enabled(options: LogRecord): boolean;
}

interface SdkLoggerProvider {
  getLogger(name: string, version?: string, options?: unknown): unknown;
}

const WRAPPED = Symbol('ccr.refusedEmitsCounted');

/**
 * Counts, once per record, the records an application emits below the processor's level.
 *
 * The SDK's Logger.emit asks every processor's enabled() first and, when all refuse, returns
 * before any processor sees the record: nothing could count it, and enabled() itself cannot (an
 * application's own logger.enabled() checks call it too). So each Logger the provider hands out
 * gets an emit that, for a record below the level only, asks the SDK whether any processor still
 * wants it; when none does, it counts the record as below_level and stops there. A record at or
 * above the level costs one comparison more; one that another processor wants goes on and is
 * counted by the processor's onEmit. Either way: once. A record whose creation throws (a hostile
 * getter in its attributes) is counted as `unreadable` instead of reaching the application.
 */
export function countRefusedEmits(provider: SdkLoggerProvider, processor: BatchingLogRecordProcessor): void {
  const getLogger = provider.getLogger;
  provider.getLogger = function (this: SdkLoggerProvider, ...args: Parameters<SdkLoggerProvider['getLogger']>) {
    const logger = getLogger.apply(this, args) as SdkLogger & { [WRAPPED]?: true };
    if (logger && typeof logger.emit === 'function' && !logger[WRAPPED]) {
      const emit = logger.emit;
      logger.emit = function (this: SdkLogger, record: LogRecord): void {
        try {
          if (processor.isAtLevel(record.severityNumber) || this.enabled(record)) return emit.call(this, record);
          processor.countBelowLevel();
        } catch (err) {
          // a record the SDK cannot read (a getter that throws...): counted, never thrown into the app
          diag.debug('a log record could not be read', err);
          processor.countUnreadable();
        }
      };
      logger[WRAPPED] = true;
    }
    return logger;
  };
}
