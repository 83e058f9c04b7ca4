import { SpanStatusCode, TraceFlags, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { BatchingProcessor } from './batching-processor';
import { identityCodec, type RecordCodec } from './record-codec';
import type { BatchingOptions } from './options';

export interface BatchingSpanProcessorOptions extends BatchingOptions {
  exporter: SpanExporter;
}

/** A cheap guess of a span's OTLP size, for the queue's byte bound. */
export function estimateSpanBytes(span: ReadableSpan): number {
  let n = 160 + span.name.length;
  const attrs = span.attributes;
  for (const k in attrs) {
    const v = attrs[k];
    n += k.length + (typeof v === 'string' ? v.length + 4 : 12);
  }
  n += span.events.length * 64;
  return n;
}

/** Spans are held as they are: they are few per request and already carry their events. */
const SPAN_CODEC = identityCodec<ReadableSpan>(estimateSpanBytes);

/**
 * A SpanProcessor that batches ended, sampled spans for an exporter without losing any
 * it does not count (see {@link BatchingEngine}). A full queue sheds OK/UNSET spans
 * before ERROR ones.
 */
export class BatchingSpanProcessor extends BatchingProcessor<ReadableSpan> implements SpanProcessor {
  constructor(options: BatchingSpanProcessorOptions) {
    super(options, 'OTEL_BSP', {
      classes: 2,
      signal: 'span',
      componentType: 'batching_span_processor',
      unit: '{span}',
      processorName: 'BatchingSpanProcessor',
      codec: SPAN_CODEC as RecordCodec<unknown>,
    });
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    // Like the SDK's processors: unsampled spans are not for export.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.engine.offer(span, span.status.code === SpanStatusCode.ERROR ? 1 : 0);
  }
}
