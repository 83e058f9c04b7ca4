import { diag, DiagLogLevel, SeverityNumber } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchingLogRecordProcessor, LevelController } from '../src';
import { loggerFor, metricPoints, ScriptedExporter, TestMetricReader, tick, ticksUntil } from './helpers';

const base = { env: {}, retryBaseDelayMillis: 1 };
const sum = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

describe('BatchingLogRecordProcessor', () => {
  afterEach(() => {
    jest.useRealTimers();
    diag.disable();
  });

  it('exports every record, in batches of at most maxExportBatchSize, in order', async () => {
    const exporter = new ScriptedExporter();
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxExportBatchSize: 100 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 1050; i++) logger.emit({ body: `r${i}`, severityNumber: SeverityNumber.INFO });
    await p.forceFlush();
    expect(exporter.accepted.map((r) => r.body)).toEqual(Array.from({ length: 1050 }, (_, i) => `r${i}`));
    expect(Math.max(...exporter.calls)).toBeLessThanOrEqual(100);
    expect(p.stats()).toEqual({
      exported: 1050,
      dropped: {
        queue_full: 0, export_failed: 0, export_timeout: 0, shutdown: 0, below_level: 0, unreadable: 0,
        spill_full: 0, spill_expired: 0, spill_corrupt: 0, spill_disk_error: 0, spill_rejected: 0,
      },
      queued: 0,
      inFlight: 0,
      spilled: 0,
      adoptedExported: 0,
      adoptedDropped: 0,
      possibleDuplicates: 0,
      truncated: 0,
      circular: 0,
      unreadableCalls: 0,
    });
  });

  it('sends a full batch without waiting for the delay, and a partial one after scheduledDelayMillis', async () => {
    jest.useFakeTimers();
    const exporter = new ScriptedExporter();
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxExportBatchSize: 10, scheduledDelayMillis: 1000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 13; i++) logger.emit({ body: i });
    // setImmediate: the pump may take the batch in one slice and send it in the next
    for (let i = 0; i < 5; i++) jest.advanceTimersByTime(0);
    expect(exporter.calls).toEqual([10]);
    jest.advanceTimersByTime(999);
    expect(exporter.calls).toEqual([10]);
    jest.advanceTimersByTime(1);
    expect(exporter.calls).toEqual([10, 3]);
  });

  it('keeps at most maxConcurrentExports exports in flight', async () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxExportBatchSize: 10, maxConcurrentExports: 3 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 100; i++) logger.emit({ body: i });
    // the pump works in short slices: give it the ticks it needs to fill the window
    await ticksUntil(() => exporter.pending.length >= 3);
    await tick();
    expect(exporter.pending.length).toBe(3);
    expect(p.stats()).toMatchObject({ inFlight: 30, queued: 70 });
    const flushed = p.forceFlush();
    while (exporter.pending.length) {
      exporter.completeOne();
      await tick();
    }
    await flushed;
    expect(exporter.maxConcurrent).toBe(3);
    expect(exporter.accepted).toHaveLength(100);
  });

  it('forceFlush during an in-flight export resolves only after that export and the rest are done', async () => {
    const exporter = new ScriptedExporter((c) => (c === 0 ? 'manual' : 'ok'));
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxExportBatchSize: 5, maxConcurrentExports: 1 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 5; i++) logger.emit({ body: i });
    await ticksUntil(() => exporter.pending.length > 0);
    expect(exporter.pending).toHaveLength(1);
    for (let i = 5; i < 8; i++) logger.emit({ body: i });
    let resolved = false;
    const flushed = p.forceFlush().then(() => (resolved = true));
    await tick();
    await tick();
    expect(resolved).toBe(false);
    exporter.completeOne();
    await flushed;
    expect(exporter.accepted.map((r) => r.body)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('forceFlush with nothing queued resolves at once', async () => {
    const p = new BatchingLogRecordProcessor({ ...base, exporter: new ScriptedExporter() });
    await expect(p.forceFlush()).resolves.toBeUndefined();
  });

  it('shutdown flushes, shuts the exporter down once, is idempotent, and counts later records as shutdown', async () => {
    const exporter = new ScriptedExporter();
    const p = new BatchingLogRecordProcessor({ ...base, exporter });
    const { logger } = loggerFor(p);
    logger.emit({ body: 'before' });
    const a = p.shutdown();
    const b = p.shutdown();
    expect(a).toBe(b);
    await a;
    await p.shutdown();
    expect(exporter.shutdownCalls).toBe(1);
    expect(exporter.accepted.map((r) => r.body)).toEqual(['before']);
    p.onEmit({ body: 'after', severityNumber: SeverityNumber.INFO, attributes: {} } as never);
    p.onEmit({ body: 'after2', severityNumber: SeverityNumber.INFO, attributes: {} } as never);
    expect(p.stats().dropped.shutdown).toBe(2);
    expect(p.stats().exported).toBe(1);
  });

  it('an exporter that throws is retried, then its records are counted as export_failed', async () => {
    const exporter = new ScriptedExporter(() => 'throw');
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxExportAttempts: 3 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 7; i++) logger.emit({ body: i });
    await p.forceFlush();
    expect(exporter.calls).toEqual([7, 7, 7]);
    expect(p.stats()).toMatchObject({ exported: 0, queued: 0, inFlight: 0 });
    expect(p.stats().dropped.export_failed).toBe(7);
  });

  it('an export that fails then succeeds loses nothing', async () => {
    const exporter = new ScriptedExporter(['fail', 'fail', 'ok']);
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxExportAttempts: 3 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 4; i++) logger.emit({ body: i });
    await p.forceFlush();
    expect(exporter.accepted.map((r) => r.body)).toEqual([0, 1, 2, 3]);
    expect(sum(p.stats().dropped)).toBe(0);
  });

  it('retries back off exponentially: nothing is resent before the delay', async () => {
    jest.useFakeTimers();
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    const exporter = new ScriptedExporter(['fail', 'fail', 'ok']);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, retryBaseDelayMillis: 100, scheduledDelayMillis: 0 });
    const { logger } = loggerFor(p);
    logger.emit({ body: 'x' });
    jest.advanceTimersByTime(0);
    expect(exporter.calls).toHaveLength(1);
    jest.advanceTimersByTime(98);
    expect(exporter.calls).toHaveLength(1);
    jest.advanceTimersByTime(2);
    expect(exporter.calls).toHaveLength(2);
    jest.advanceTimersByTime(190);
    expect(exporter.calls).toHaveLength(2);
    jest.advanceTimersByTime(10);
    expect(exporter.calls).toHaveLength(3);
    expect(p.stats().exported).toBe(1);
    jest.restoreAllMocks();
  });

  it('an exporter that never calls back is cut off at exportTimeoutMillis', async () => {
    jest.useFakeTimers();
    const exporter = new ScriptedExporter(() => 'hang');
    const p = new BatchingLogRecordProcessor({ ...base, exporter, exportTimeoutMillis: 5000, scheduledDelayMillis: 0 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 3; i++) logger.emit({ body: i });
    jest.advanceTimersByTime(1);
    expect(p.stats().inFlight).toBe(3);
    jest.advanceTimersByTime(4998);
    expect(p.stats().dropped.export_timeout).toBe(0);
    jest.advanceTimersByTime(2);
    expect(p.stats()).toMatchObject({ inFlight: 0, queued: 0 });
    expect(p.stats().dropped.export_timeout).toBe(3);
  });

  it('a full queue sheds the least severe records first; ERROR goes only when nothing below it is queued', async () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxQueueSize: 6, maxExportBatchSize: 6, maxConcurrentExports: 1, scheduledDelayMillis: 60000 });
    const { logger } = loggerFor(p);
    const emit = (s: SeverityNumber, body: string) => logger.emit({ severityNumber: s, body });
    emit(SeverityNumber.DEBUG, 'd1');
    emit(SeverityNumber.INFO, 'i1');
    emit(SeverityNumber.DEBUG, 'd2');
    emit(SeverityNumber.WARN, 'w1');
    emit(SeverityNumber.INFO, 'i2');
    emit(SeverityNumber.DEBUG, 'd3'); // queue full: 6
    emit(SeverityNumber.DEBUG, 'd4'); // same as the lowest present: the new one is dropped
    emit(SeverityNumber.ERROR, 'e1'); // displaces d1
    emit(SeverityNumber.ERROR, 'e2'); // displaces d2
    emit(SeverityNumber.FATAL, 'f1'); // displaces d3
    emit(SeverityNumber.ERROR, 'e3'); // displaces i1
    emit(SeverityNumber.WARN, 'w2'); // displaces i2
    emit(SeverityNumber.ERROR, 'e4'); // displaces w1 (lowest present is WARN)
    emit(SeverityNumber.ERROR, 'e5'); // displaces w2
    emit(SeverityNumber.ERROR, 'e6'); // only ERROR and FATAL left: dropped
    expect(p.stats().dropped.queue_full).toBe(9);
    const flushed = p.forceFlush();
    await ticksUntil(() => exporter.pending.length > 0);
    exporter.completeOne();
    await flushed;
    expect(exporter.accepted.map((r) => r.body)).toEqual(['e1', 'e2', 'f1', 'e3', 'e4', 'e5']);
    const s = p.stats();
    expect(s.exported + sum(s.dropped)).toBe(15);
  });

  it('bounds the queue by estimated bytes too', async () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxQueueBytes: 4096, scheduledDelayMillis: 60000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 10; i++) logger.emit({ body: 'x'.repeat(1000) });
    expect(p.stats().queued).toBe(3);
    expect(p.stats().dropped.queue_full).toBe(7);
    expect(p.queueFill()).toBeGreaterThan(0.7);
  });

  it('refuses records below the level floor in enabled(), before they are created, and counts them', async () => {
    const exporter = new ScriptedExporter();
    const level = new LevelController({ level: 'warn' });
    const p = new BatchingLogRecordProcessor({ ...base, exporter, level });
    const { logger } = loggerFor(p);
    expect(logger.enabled({ severityNumber: SeverityNumber.INFO })).toBe(false);
    expect(logger.enabled({ severityNumber: SeverityNumber.ERROR })).toBe(true);
    logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'no' });
    logger.emit({ severityNumber: SeverityNumber.WARN, body: 'yes' });
    p.onEmit({ severityNumber: SeverityNumber.INFO, body: 'direct', attributes: {} } as never); // onEmit guards too
    await p.forceFlush();
    expect(exporter.accepted.map((r) => r.body)).toEqual(['yes']);
    expect(p.stats().dropped.below_level).toBe(1); // the direct onEmit; the probe and the DEBUG emit were refused in enabled(), before a record existed
    level.setConfiguredLevel('debug');
    logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'now yes' });
    await p.forceFlush();
    expect(exporter.accepted.map((r) => r.body)).toEqual(['yes', 'now yes']);
  });

  it('exports its counts as otel.sdk.processor.log.* metrics', async () => {
    const reader = new TestMetricReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const exporter = new ScriptedExporter((c) => (c === 0 ? 'ok' : 'fail'));
    const p = new BatchingLogRecordProcessor({ ...base, exporter, meterProvider, maxExportBatchSize: 2, maxExportAttempts: 1, maxConcurrentExports: 1 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 4; i++) logger.emit({ body: i });
    await p.forceFlush();
    const processed = await metricPoints(reader, 'otel.sdk.processor.log.processed');
    const ok = processed.find((d) => d.attributes['error.type'] === undefined);
    const failed = processed.find((d) => d.attributes['error.type'] === 'export_failed');
    expect(ok?.value).toBe(2);
    expect(failed?.value).toBe(2);
    expect(ok?.attributes['otel.component.type']).toBe('batching_log_processor');
    const capacity = await metricPoints(reader, 'otel.sdk.processor.log.queue.capacity');
    expect(capacity[0].value).toBe(65536);
    expect(await metricPoints(reader, 'otel.sdk.processor.log.queue.size')).toHaveLength(1);
  });

  it('accounts for every record: exported + dropped = emitted, under a burst with failures', async () => {
    let n = 0;
    const exporter = new ScriptedExporter(() => (n++ % 3 === 0 ? 'fail' : 'ok'));
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxQueueSize: 1000, maxExportBatchSize: 100, maxExportAttempts: 2 });
    const { logger } = loggerFor(p);
    const sev = [SeverityNumber.DEBUG, SeverityNumber.INFO, SeverityNumber.WARN, SeverityNumber.ERROR];
    for (let i = 0; i < 20000; i++) {
      logger.emit({ body: i, severityNumber: sev[i % 4] });
      if (i % 5000 === 0) await tick();
    }
    await p.forceFlush();
    const s = p.stats();
    expect(s.exported).toBe(exporter.accepted.length);
    expect(s.exported + sum(s.dropped)).toBe(20000);
    expect(s.dropped.queue_full).toBeGreaterThan(0);
  });
});

describe('setOptions', () => {
  it('changes limits while running, validating like the constructor', async () => {
    const exporter = new ScriptedExporter();
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxExportBatchSize: 100 });
    const { logger } = loggerFor(p);
    p.setOptions({ maxExportBatchSize: 10, maxQueueSize: 20 });
    expect(p.getOptions()).toMatchObject({ maxExportBatchSize: 10, maxQueueSize: 20 });
    for (let i = 0; i < 30; i++) logger.emit({ body: i });
    expect(p.stats().dropped.queue_full).toBe(10);
    await p.forceFlush();
    expect(Math.max(...exporter.calls)).toBe(10);
    expect(() => p.setOptions({ maxExportBatchSize: 50 })).toThrow(/maxExportBatchSize \(50\) must be <= maxQueueSize \(20\)/);
    expect(() => p.setOptions({ exportTimeoutMillis: -1 })).toThrow(/exportTimeoutMillis must be >= 1/);
    expect(p.getOptions().maxExportBatchSize).toBe(10);
  });
});

describe('shutdown and failures', () => {
  it('does not retry once shut down: a failure during the final flush is final and counted', async () => {
    const exporter = new ScriptedExporter(() => 'fail');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxExportAttempts: 5, retryBaseDelayMillis: 10_000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 3; i++) logger.emit({ body: i });
    const t0 = Date.now();
    await p.shutdown();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(exporter.calls).toEqual([3]);
    expect(p.stats().dropped.export_failed).toBe(3);
  });
});

describe('countRefusedEmits: every record emitted below the level counts once, checks never', () => {
  it('counts a refused emit once, never a logger.enabled() check, and leaves a record another processor wants to onEmit', async () => {
    const { LoggerProvider } = require('@opentelemetry/sdk-logs');
    const { countRefusedEmits } = require('../src');
    const exporter = new ScriptedExporter();
    const level = new LevelController({ level: 'warn' });
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, level });
    const provider = new LoggerProvider({ processors: [p] });
    countRefusedEmits(provider, p);
    const logger = provider.getLogger('t');
    for (let i = 0; i < 5; i++) logger.enabled({ severityNumber: SeverityNumber.INFO });
    for (let i = 0; i < 3; i++) logger.emit({ severityNumber: SeverityNumber.INFO, body: 'below' });
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'kept' });
    await p.forceFlush();
    expect(p.stats().dropped.below_level).toBe(3);
    expect(exporter.accepted.map((r) => r.body)).toEqual(['kept']);
    expect(provider.getLogger('t')).toBe(logger); // wrapped once

    // another processor that wants every record: the SDK creates it and our onEmit counts it, once
    const seen: unknown[] = [];
    const p2 = new BatchingLogRecordProcessor({ env: {}, exporter: new ScriptedExporter(), level });
    const provider2 = new LoggerProvider({ processors: [p2, { onEmit: (r: { body: unknown }) => seen.push(r.body), forceFlush: async () => {}, shutdown: async () => {} }] });
    countRefusedEmits(provider2, p2);
    provider2.getLogger('t').emit({ severityNumber: SeverityNumber.INFO, body: 'echo' });
    expect(seen).toEqual(['echo']);
    expect(p2.stats().dropped.below_level).toBe(1);
    await provider.shutdown();
    await provider2.shutdown();
  });
});

describe('hostile records', () => {
  it('a record whose attributes throw when read is counted as unreadable, never thrown into the app', async () => {
    const { LoggerProvider } = require('@opentelemetry/sdk-logs');
    const { countRefusedEmits } = require('../src');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter: new ScriptedExporter() });
    const provider = new LoggerProvider({ processors: [p] });
    countRefusedEmits(provider, p);
    const hostile = {};
    Object.defineProperty(hostile, 'boom', { enumerable: true, get() { throw new Error('getter'); } });
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const logger = provider.getLogger('t');
    expect(() => logger.emit({ body: 'x', attributes: hostile as never })).not.toThrow();
    expect(() => logger.emit({ body: circular as never, attributes: { big: 10n as never, [Symbol('s') as never]: 1 } })).not.toThrow();
    await p.forceFlush();
    const s = p.stats();
    // the getter throws while the SDK builds the record; the circular body is cut at the cycle (value-limits.test.ts)
    expect(s.dropped.unreadable).toBe(1);
    expect(s.exported).toBe(1);
    expect(s.circular).toBe(1);
    await provider.shutdown();
  });
});
