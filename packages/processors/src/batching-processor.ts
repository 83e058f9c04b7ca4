import type { MeterProvider } from '@opentelemetry/api';
import { BatchingEngine, type BatchExporter, type EngineSignal, type GroupedRecord, type ProcessorStats } from './engine';
import { isEncodedBatchExporter, SdkExporterBridge, type EncodedBatchExporter } from './encoded-exporter';
import type { EncodedBatch } from './record-store';
import { RecordEncoder } from './otlp-encoder';
import { InvalidOptionError, resolveBatchingOptions, type BatchingLimits, type BatchingOptions, type EnvPrefix, type ResolvedBatchingOptions } from './options';

/**
 * What the log and span processors share: options resolved (explicit, else the standard
 * variables under `prefix`, else the defaults), one engine, and the lifecycle and
 * introspection methods. The subclasses decide how a record is encoded and what its
 * priority class is.
 */
export abstract class BatchingProcessor<T extends GroupedRecord> {
  protected readonly engine: BatchingEngine<T>;
  /** Writes each record within the value limits (maxValueBytes, attributeValueLengthLimit), counting what it cuts. */
  private readonly encoder: RecordEncoder;
  private unreadableCalls = 0;

  protected constructor(
    options: BatchingOptions & { exporter: BatchExporter<T> | EncodedBatchExporter },
    prefix: EnvPrefix,
    signal: Omit<EngineSignal, 'encode'>,
    encodeWith: (encoder: RecordEncoder) => EngineSignal['encode'],
    decode: (batch: EncodedBatch) => T[],
  ) {
    if (!options || !options.exporter) throw new TypeError(`${signal.processorName}: options.exporter is required`);
    const e = options.exporter;
    // an SDK exporter gets records decoded from each batch; an encoded-batch exporter the bytes
    const exporter = isEncodedBatchExporter(e) ? e : new SdkExporterBridge<T>(e, decode);
    const resolved = resolveBatchingOptions(options, prefix);
    this.encoder = new RecordEncoder(resolved);
    this.engine = new BatchingEngine<T>(exporter, resolved, { ...signal, encode: encodeWith(this.encoder) }, options.meterProvider as MeterProvider | undefined);
    if (options.meterProvider) this.registerMetrics(options.meterProvider as MeterProvider, signal);
    if (options.spill) {
      // a replayed batch is bytes only: an SDK exporter would need records rebuilt from them
      if (!isEncodedBatchExporter(e)) throw new InvalidOptionError(`${signal.processorName}: spill needs an encoded-batch exporter (OtlpHttpExporter)`);
      this.engine.attachSpill(options.spill);
    }
  }

  /**
   * For process 'exit': writes every record still queued, waiting or in flight to the spill,
   * synchronously; returns how many. Does nothing without a spill. See {@link BatchingEngine.spillSync}.
   */
  spillSync(): number {
    return this.engine.spillSync();
  }

  /**
   * Resolves once every record queued before the call is exported or counted as dropped,
   * or after the timeout (default forceFlushTimeoutMillis): a number of milliseconds or, as
   * the SDK's LoggerProvider passes it, `{ timeoutMillis }`.
   */
  forceFlush(timeout?: number | { timeoutMillis?: number }): Promise<void> {
    return this.engine.forceFlush(timeoutOf(timeout) ?? this.engine.getOptions().forceFlushTimeoutMillis);
  }

  /**
   * Flushes, then shuts the exporter down, within the timeout (default shutdownTimeoutMillis):
   * what is still held then counts as `shutdown`. Idempotent. Later records count as `shutdown`.
   */
  shutdown(timeout?: number | { timeoutMillis?: number }): Promise<void> {
    return this.engine.shutdown(timeoutOf(timeout) ?? this.engine.getOptions().shutdownTimeoutMillis);
  }

  /** Changes limits while running; see {@link BatchingEngine.setOptions}. */
  setOptions(patch: BatchingLimits): void {
    this.engine.setOptions(patch);
    this.encoder.setLimits(this.engine.getOptions());
  }

  /** The options in force, defaults and variables resolved. */
  getOptions(): Readonly<ResolvedBatchingOptions> {
    return this.engine.getOptions();
  }

  /**
   * Exported, dropped by reason, queued, in flight and spilled; and what was changed in records
   * that still went on (not drops: they are outside the sum emitted = exported + dropped + ...).
   */
  stats(): ProcessorStats & ValueStats {
    const { truncated, circular } = this.encoder.counts;
    return { ...this.engine.stats(), truncated, circular, unreadableCalls: this.unreadableCalls };
  }

  /** Counts one API call on a record that threw on what it was given and was ignored (see guardSpanMethods). */
  countUnreadableCall(): void {
    this.unreadableCalls++;
  }

  /** `ccr.processor.{log,span}.values_changed`: the ValueStats counts, by `reason`, beside the engine's metrics. */
  private registerMetrics(meterProvider: MeterProvider, signal: Omit<EngineSignal, 'encode'>): void {
    const reasons = { truncated: { reason: 'truncated' }, circular: { reason: 'circular' }, unreadableCalls: { reason: 'unreadable_call' } };
    meterProvider
      .getMeter('@ccr/otel-processors')
      .createObservableCounter(`ccr.processor.${signal.signal}.values_changed`, {
        unit: signal.unit,
        description: 'Records kept with a value cut to its limit (truncated) or a cycle cut (circular), and API calls on them ignored because their arguments threw (unreadable_call). Not drops.',
      })
      .addCallback((r) => {
        const { truncated, circular } = this.encoder.counts;
        r.observe(truncated, reasons.truncated);
        r.observe(circular, reasons.circular);
        r.observe(this.unreadableCalls, reasons.unreadableCalls);
      });
  }

  /** 0..1: how full the queue is. A LoadMonitor source. */
  queueFill(): number {
    return this.engine.queueFill();
  }
}

/** What the processor changed in records it kept, or refused of calls on them: counted, never thrown. */
export interface ValueStats {
  /** String or bytes values cut to maxValueBytes or attributeValueLengthLimit (at a character boundary). */
  truncated: number;
  /** References to an enclosing array or map (a cycle), written as the string "[Circular]". */
  circular: number;
  /** Calls on a record (a span's setAttribute, addEvent...) that threw on their arguments and were ignored. */
  unreadableCalls: number;
}

function timeoutOf(t: number | { timeoutMillis?: number } | undefined): number | undefined {
  return typeof t === 'number' ? t : t?.timeoutMillis;
}
