import { SpanStatusCode, TraceFlags, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { BatchingProcessor } from './batching-processor';
import type { BatchingOptions } from './options';
import type { EncodedBatchExporter } from './encoded-exporter';
import { decodeSpans } from './otlp-decoder';

export interface BatchingSpanProcessorOptions extends BatchingOptions {
  /**
   * Where batches go: an {@link OtlpHttpExporter} sends the encoded bytes as they are
   * (the fast path); an SDK SpanExporter gets each batch decoded into spans.
   */
  exporter: SpanExporter | EncodedBatchExporter;
}

/**
 * A SpanProcessor that batches ended, sampled spans for an exporter without losing any
 * it does not count (see {@link BatchingEngine}). A span is encoded when it ends: the
 * queue holds its bytes, not the span. A full queue sheds OK/UNSET spans before ERROR ones.
 */
export class BatchingSpanProcessor extends BatchingProcessor<ReadableSpan> implements SpanProcessor {
  constructor(options: BatchingSpanProcessorOptions) {
    super(options, 'OTEL_BSP', {
      classes: 2,
      signal: 'span',
      componentType: 'batching_span_processor',
      unit: '{span}',
      processorName: 'BatchingSpanProcessor',
    }, (e) => e.span as never, decodeSpans);
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    // Like the SDK's processors: unsampled spans are not for export.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.engine.offer(span, span.status.code === SpanStatusCode.ERROR ? 1 : 0);
  }
}
