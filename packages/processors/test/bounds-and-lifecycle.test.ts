import { SeverityNumber, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { BatchingLogRecordProcessor, BatchingSpanProcessor, LevelController, type EncodedBatch } from '../src';
import { loggerFor, ScriptedExporter, tick, ticksUntil } from './helpers';

const base = { env: {}, retryBaseDelayMillis: 1 };

describe('below_level', () => {
  it('counts records refused in onEmit, not enabled() checks', async () => {
    const exporter = new ScriptedExporter();
    const level = new LevelController({ level: 'warn' });
    const p = new BatchingLogRecordProcessor({ ...base, exporter, level });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 5; i++) expect(logger.enabled({ severityNumber: SeverityNumber.INFO })).toBe(false);
    expect(p.stats().dropped.below_level).toBe(0);
    p.onEmit({ severityNumber: SeverityNumber.INFO, body: 'refused', attributes: {} } as never);
    expect(p.stats().dropped.below_level).toBe(1);
    await p.shutdown();
  });
});

describe('retry backoff', () => {
  afterEach(() => {
    jest.restoreAllMocks(); // first: the setTimeout spy wraps the fake timer
    jest.useRealTimers();
  });

  it('is capped at MAX_RETRY_DELAY_MILLIS (30 s), however large base × 2^attempt gets', async () => {
    jest.useFakeTimers();
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    const delays: number[] = [];
    const real = global.setTimeout;
    jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return real(fn, ms);
    }) as typeof setTimeout);
    const exporter = new ScriptedExporter(() => 'fail');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, retryBaseDelayMillis: 2_000_000_000, maxExportAttempts: 4, scheduledDelayMillis: 0 });
    const { logger } = loggerFor(p);
    logger.emit({ body: 'x' });
    for (let i = 0; i < 4; i++) await jest.advanceTimersByTimeAsync(30_000);
    expect(exporter.calls).toHaveLength(4);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    expect(p.stats().dropped.export_failed).toBe(1);
  });
});

describe('an async exporter that rejects', () => {
  it('is a failed export (retried, then export_failed), never an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let calls = 0;
      const exporter = {
        async export(): Promise<void> {
          calls++;
          throw new Error('async boom');
        },
        async shutdown(): Promise<void> {},
      };
      const p = new BatchingLogRecordProcessor({ ...base, exporter: exporter as never, maxExportAttempts: 2, exportTimeoutMillis: 2000 });
      const { logger } = loggerFor(p);
      for (let i = 0; i < 3; i++) logger.emit({ body: i });
      await p.forceFlush();
      await new Promise((r) => setTimeout(r, 20));
      expect(calls).toBe(2);
      expect(p.stats()).toMatchObject({ exported: 0, queued: 0, inFlight: 0 });
      expect(p.stats().dropped.export_failed).toBe(3);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('shedding includes batches waiting for a retry', () => {
  it('an ERROR displaces a waiting batch of DEBUG records (counted queue_full) instead of being dropped', async () => {
    const exporter = new ScriptedExporter(['fail', 'ok', 'ok']);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxQueueSize: 4, maxExportBatchSize: 4, maxExportAttempts: 5, retryBaseDelayMillis: 60_000, scheduledDelayMillis: 60_000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 4; i++) logger.emit({ severityNumber: SeverityNumber.DEBUG, body: `d${i}` });
    await ticksUntil(() => exporter.calls.length === 1);
    expect(p.stats()).toMatchObject({ queued: 4, inFlight: 0 }); // waiting for its retry
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'e1' });
    expect(p.stats().dropped.queue_full).toBe(4);
    expect(p.stats().queued).toBe(1);
    await p.forceFlush();
    expect(exporter.accepted.map((r) => r.body)).toEqual(['e1']);
    expect(exporter.calls).toEqual([4, 1]); // the shed batch is not retried
    expect(p.stats()).toMatchObject({ exported: 1, queued: 0, inFlight: 0 });
  });

  it('a waiting batch holding a record of the new one\'s class or above is kept; the new record goes', async () => {
    const exporter = new ScriptedExporter(['fail', 'ok']);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxQueueSize: 2, maxExportBatchSize: 2, maxExportAttempts: 2, retryBaseDelayMillis: 1, scheduledDelayMillis: 60_000 });
    const { logger } = loggerFor(p);
    logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'd' });
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'e' });
    await ticksUntil(() => exporter.calls.length === 1);
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'late' });
    expect(p.stats().dropped.queue_full).toBe(1);
    await p.forceFlush();
    expect(exporter.accepted.map((r) => r.body)).toEqual(['d', 'e']);
  });
});

describe('the byte bound', () => {
  it('counts batches waiting for a retry', async () => {
    const exporter = new ScriptedExporter(['fail', 'ok']);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxQueueBytes: 8192, maxExportBatchSize: 2, maxExportAttempts: 2, retryBaseDelayMillis: 60_000, scheduledDelayMillis: 60_000 });
    const { logger } = loggerFor(p);
    logger.emit({ body: 'a'.repeat(3000) });
    logger.emit({ body: 'b'.repeat(3000) });
    await ticksUntil(() => exporter.calls.length === 1);
    expect(p.queueFill()).toBeGreaterThan(0.7);
    logger.emit({ body: 'c'.repeat(3000) }); // 6 KB waiting + 3 KB > 8 KB, nothing below INFO: refused
    expect(p.stats().dropped.queue_full).toBe(1);
    expect(p.stats().queued).toBe(2);
  });

  it('drops a record larger than maxQueueBytes by itself, shedding nothing', () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxQueueBytes: 4096, scheduledDelayMillis: 60_000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 3; i++) logger.emit({ severityNumber: SeverityNumber.DEBUG, body: `d${i}` });
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'x'.repeat(10_000) });
    expect(p.stats().dropped.queue_full).toBe(1);
    expect(p.stats().queued).toBe(3);
  });

  it('counts span events, links and status at their encoded size', () => {
    const span = (i: number, part: 'event' | 'link' | 'status'): ReadableSpan => {
      const big = `${part}${i}`.padEnd(6000, '.');
      return {
        name: 's', kind: 0, startTime: [1, 0], endTime: [1, 1], duration: [0, 1], ended: true,
        spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: TraceFlags.SAMPLED }),
        parentSpanContext: undefined,
        status: part === 'status' ? { code: SpanStatusCode.OK, message: big } : { code: SpanStatusCode.UNSET },
        attributes: {},
        links: part === 'link' ? [{ context: { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16), traceFlags: 1 }, attributes: { big } }] : [],
        events: part === 'event' ? [{ name: 'exception', time: [1, 0], attributes: { 'exception.stacktrace': big } }] : [],
        resource: defaultResource(),
        instrumentationScope: { name: 't' },
        droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
      } as unknown as ReadableSpan;
    };
    for (const part of ['event', 'link', 'status'] as const) {
      const exporter = new ScriptedExporter<ReadableSpan>(() => 'manual');
      const p = new BatchingSpanProcessor({ env: {}, exporter, maxQueueBytes: 16_384, scheduledDelayMillis: 60_000 });
      p.onEnd(span(1, part));
      p.onEnd(span(2, part));
      expect(p.queueFill()).toBeGreaterThan(12_000 / 16_384);
      p.onEnd(span(3, part)); // 18 KB > 16 KB
      expect(p.stats()).toMatchObject({ queued: 2, dropped: { queue_full: 1 } });
    }
  });
});

describe('shutdown and forceFlush', () => {
  const total = (s: ReturnType<BatchingLogRecordProcessor['stats']>) => s.exported + Object.values(s.dropped).reduce((a, b) => a + b, 0) + s.queued + s.inFlight;

  it('refuses timeout options a Node timer cannot keep', () => {
    const exporter = new ScriptedExporter();
    expect(() => new BatchingLogRecordProcessor({ env: {}, exporter, shutdownTimeoutMillis: 3e9 })).toThrow(/shutdownTimeoutMillis must be <= 2147483647/);
    expect(() => new BatchingLogRecordProcessor({ env: {}, exporter, forceFlushTimeoutMillis: -1 })).toThrow(/forceFlushTimeoutMillis must be >= 0/);
  });

  it('shutdown sends a batch waiting for a retry once more, at once', async () => {
    const exporter = new ScriptedExporter(['fail', 'ok']);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxExportAttempts: 5, retryBaseDelayMillis: 20_000, maxExportBatchSize: 3, scheduledDelayMillis: 60_000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 3; i++) logger.emit({ body: i });
    await ticksUntil(() => exporter.calls.length === 1);
    expect(p.stats()).toMatchObject({ queued: 3, inFlight: 0 }); // backing off (up to 20 s)
    const t0 = Date.now();
    await p.shutdown();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(exporter.calls).toEqual([3, 3]);
    expect(p.stats()).toMatchObject({ exported: 3, queued: 0, inFlight: 0 });
  }, 10_000);

  it('shutdown(timeoutMillis) gives up by then and counts what is queued or in flight as shutdown; a late callback changes nothing', async () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxExportBatchSize: 2, maxConcurrentExports: 1, exportTimeoutMillis: 60_000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 5; i++) logger.emit({ body: i });
    await ticksUntil(() => exporter.pending.length === 1);
    const t0 = Date.now();
    await p.shutdown(200);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(2000);
    expect(p.stats()).toMatchObject({ exported: 0, queued: 0, inFlight: 0, dropped: { shutdown: 5 } });
    exporter.completeOne(); // the hung export answers after all
    await tick();
    expect(p.stats()).toMatchObject({ exported: 0, dropped: { shutdown: 5 } });
    expect(total(p.stats())).toBe(5);
  }, 10_000);

  it('shutdown() without a timeout honours shutdownTimeoutMillis; forceFlush({ timeoutMillis }) resolves by then, counting nothing', async () => {
    const exporter = new ScriptedExporter(() => 'hang');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, exportTimeoutMillis: 60_000, shutdownTimeoutMillis: 150 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 3; i++) logger.emit({ body: i });
    let t0 = Date.now();
    await p.forceFlush({ timeoutMillis: 100 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(p.stats()).toMatchObject({ inFlight: 3, dropped: { shutdown: 0 } });
    t0 = Date.now();
    await p.shutdown();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(p.stats()).toMatchObject({ inFlight: 0, queued: 0, dropped: { shutdown: 3 } });
  }, 10_000);
});

describe('a resource with async attributes', () => {
  it('is encoded once its attributes have settled, as the SDK processors wait for them', async () => {
    const sent: EncodedBatch[] = [];
    const exporter = {
      exportsEncodedBatches: true as const,
      export(batch: EncodedBatch, cb: (r: { code: number }) => void) {
        sent.push(batch);
        cb({ code: 0 });
      },
      async shutdown() {},
    };
    const detected = new Promise<string>((r) => setTimeout(() => r('settled-later'), 50));
    const resource = resourceFromAttributes({ 'host.detected': detected });
    expect(resource.asyncAttributesPending).toBe(true);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, scheduledDelayMillis: 0 });
    const logger = new LoggerProvider({ resource, processors: [p] }).getLogger('t');
    logger.emit({ body: 'r1' });
    await p.forceFlush();
    expect(sent).toHaveLength(1);
    expect(Buffer.from(sent[0].bytes).includes('settled-later')).toBe(true);
    expect(p.stats().exported).toBe(1);
  });
});
