import type { ExportResult } from '@opentelemetry/core';
import type { BatchExporter } from './engine';
import type { EncodedBatch } from './record-store';

/**
 * An exporter of encoded batches: what the processors send to. {@link OtlpHttpExporter}
 * sends the bytes as they are; {@link SdkExporterBridge} decodes them for an SDK exporter.
 */
export interface EncodedBatchExporter {
  /** Marks the interface apart from an SDK exporter's (which takes records). */
  readonly exportsEncodedBatches: true;
  export(batch: EncodedBatch, resultCallback: (result: ExportResult) => void): void;
  /**
   * Sends a batch whose bytes are the request already gzip-compressed (as the durable spill
   * stores them), as they are. Optional: without it, such batches are gunzipped for export().
   */
  readonly exportGzipped?: (batch: EncodedBatch, resultCallback: (result: ExportResult) => void) => void;
  shutdown(): Promise<void>;
}

export function isEncodedBatchExporter(e: unknown): e is EncodedBatchExporter {
  return typeof e === 'object' && e !== null && (e as EncodedBatchExporter).exportsEncodedBatches === true;
}

/**
 * Hands an SDK exporter (LogRecordExporter, SpanExporter: in-memory, console, custom)
 * the records of each batch, decoded afresh for every attempt. Slower than sending the
 * bytes, and kept for compatibility: the records die once the exporter is done.
 */
export class SdkExporterBridge<T> implements EncodedBatchExporter {
  readonly exportsEncodedBatches = true as const;

  constructor(
    private readonly exporter: BatchExporter<T>,
    private readonly decode: (batch: EncodedBatch) => T[],
  ) {}

  /** Returns what the SDK exporter's export() returned (a promise, if it is async: the engine catches its rejection). */
  export(batch: EncodedBatch, resultCallback: (result: ExportResult) => void): unknown {
    return this.exporter.export(this.decode(batch), resultCallback);
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
