import { diag } from '@opentelemetry/api';
import { SpanStatusCode } from '@opentelemetry/api';
import { TracerProvider, AlwaysOffSampler, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { BatchingSpanProcessor } from '../src';
import { ScriptedExporter, tick, ticksUntil } from './helpers';

describe('BatchingSpanProcessor', () => {
  it('exports ended spans and counts them', async () => {
    const exporter = new ScriptedExporter<ReadableSpan>();
    const p = new BatchingSpanProcessor({ env: {}, exporter });
    const tracer = new TracerProvider({ spanProcessors: [p] }).getTracer('t');
    for (let i = 0; i < 10; i++) tracer.startSpan(`s${i}`).end();
    await p.forceFlush();
    expect(exporter.accepted.map((s) => s.name)).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`));
    expect(p.stats().exported).toBe(10);
  });

  it('keeps ERROR spans in preference to OK/UNSET ones when full', async () => {
    const exporter = new ScriptedExporter<ReadableSpan>(() => 'manual');
    const p = new BatchingSpanProcessor({ env: {}, exporter, maxQueueSize: 3, maxExportBatchSize: 3, scheduledDelayMillis: 60000 });
    const tracer = new TracerProvider({ spanProcessors: [p] }).getTracer('t');
    const end = (name: string, error: boolean) => {
      const s = tracer.startSpan(name);
      if (error) s.setStatus({ code: SpanStatusCode.ERROR });
      s.end();
    };
    end('ok1', false);
    end('ok2', false);
    end('ok3', false);
    end('err1', true);
    end('ok4', false);
    end('err2', true);
    end('err3', true);
    end('err4', true);
    const flushed = p.forceFlush();
    await ticksUntil(() => exporter.pending.length > 0);
    exporter.completeOne();
    await flushed;
    expect(exporter.accepted.map((s) => s.name)).toEqual(['err1', 'err2', 'err3']);
    expect(p.stats().dropped.queue_full).toBe(5);
  });

  it('ignores unsampled spans, as the SDK processors do', async () => {
    const exporter = new ScriptedExporter<ReadableSpan>();
    const p = new BatchingSpanProcessor({ env: {}, exporter });
    const tracer = new TracerProvider({ spanProcessors: [p], sampler: new AlwaysOffSampler() }).getTracer('t');
    tracer.startSpan('x').end();
    await p.forceFlush();
    expect(exporter.accepted).toHaveLength(0);
    expect(p.stats().exported).toBe(0);
  });

  it('reads OTEL_BSP_* when an option is absent', () => {
    const warn = jest.spyOn(diag, 'warn').mockImplementation(() => undefined);
    try {
      const p = new BatchingSpanProcessor({ env: { OTEL_BSP_MAX_QUEUE_SIZE: 'x', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '7' }, exporter: new ScriptedExporter() });
      expect(p.getOptions()).toMatchObject({ maxQueueSize: 65536, maxExportBatchSize: 7 });
      expect(warn.mock.calls[0][0]).toMatch(/OTEL_BSP_MAX_QUEUE_SIZE must be an integer, got "x"; using 65536/);
    } finally {
      warn.mockRestore();
    }
  });
});
