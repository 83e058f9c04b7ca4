import { SeverityNumber } from '@opentelemetry/api';
import { BatchingLogRecordProcessor, LevelController } from '../src';
import { loggerFor, ScriptedExporter } from './helpers';

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
