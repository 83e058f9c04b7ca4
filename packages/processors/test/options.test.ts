import { diag } from '@opentelemetry/api';
import { BATCHING_DEFAULTS, InvalidOptionError, resolveBatchingOptions } from '../src/options';
import { BatchingLogRecordProcessor } from '../src';
import { ScriptedExporter } from './helpers';

describe('resolveBatchingOptions', () => {
  it('uses the documented defaults', () => {
    const o = resolveBatchingOptions({ env: {} }, 'OTEL_BLRP');
    expect(o).toEqual(BATCHING_DEFAULTS);
    expect(o.maxQueueSize).toBe(65536);
    expect(o.maxQueueBytes).toBe(64 * 1024 * 1024);
    expect(o.maxExportBatchSize).toBe(512);
    expect(o.scheduledDelayMillis).toBe(1000);
    expect(o.exportTimeoutMillis).toBe(30000);
    expect(o.maxConcurrentExports).toBe(16);
  });

  it('honours the standard variables when an option is absent', () => {
    const env = {
      OTEL_BLRP_MAX_QUEUE_SIZE: '100',
      OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '10',
      OTEL_BLRP_SCHEDULE_DELAY: '50',
      OTEL_BLRP_EXPORT_TIMEOUT: '70',
      OTEL_BSP_MAX_QUEUE_SIZE: '999',
    };
    const o = resolveBatchingOptions({ env }, 'OTEL_BLRP');
    expect(o).toMatchObject({ maxQueueSize: 100, maxExportBatchSize: 10, scheduledDelayMillis: 50, exportTimeoutMillis: 70 });
    expect(resolveBatchingOptions({ env }, 'OTEL_BSP').maxQueueSize).toBe(999);
  });

  it('prefers an explicit option over the variable', () => {
    const o = resolveBatchingOptions({ maxQueueSize: 7, maxExportBatchSize: 7, env: { OTEL_BLRP_MAX_QUEUE_SIZE: '100' } }, 'OTEL_BLRP');
    expect(o.maxQueueSize).toBe(7);
  });

  it.each([
    [{ maxQueueSize: -1 }, /maxQueueSize must be >= 1/],
    [{ maxExportBatchSize: 0 }, /maxExportBatchSize must be >= 1/],
    [{ scheduledDelayMillis: 1.5 }, /scheduledDelayMillis must be an integer/],
    [{ maxConcurrentExports: Number.NaN }, /maxConcurrentExports must be an integer/],
    [{ exportTimeoutMillis: '10' as unknown as number }, /exportTimeoutMillis must be an integer/],
    [{ maxQueueSize: 10, maxExportBatchSize: 11 }, /maxExportBatchSize \(11\) must be <= maxQueueSize \(10\)/],
  ])('rejects %j with a clear error', (opts, message) => {
    expect(() => resolveBatchingOptions({ ...opts, env: {} }, 'OTEL_BLRP')).toThrow(message);
    expect(() => resolveBatchingOptions({ ...opts, env: {} }, 'OTEL_BLRP')).toThrow(InvalidOptionError);
  });

  it.each([
    ['OTEL_BLRP_MAX_QUEUE_SIZE', 'lots', 'maxQueueSize', 65536, /OTEL_BLRP_MAX_QUEUE_SIZE must be an integer, got "lots"; using 65536/],
    ['OTEL_BLRP_SCHEDULE_DELAY', '-5', 'scheduledDelayMillis', 1000, /OTEL_BLRP_SCHEDULE_DELAY must be >= 0, got "-5"; using 1000/],
    ['OTEL_BLRP_EXPORT_TIMEOUT', '3000000000', 'exportTimeoutMillis', 30000, /OTEL_BLRP_EXPORT_TIMEOUT must be <= 2147483647 ms .*; using 30000/],
    ['OTEL_BLRP_MAX_EXPORT_BATCH_SIZE', '100000', 'maxExportBatchSize', 65536, /OTEL_BLRP_MAX_EXPORT_BATCH_SIZE \(100000\) must be <= the queue size \(65536\); using 65536/],
  ])('a bad %s=%s is reported and the default used, never thrown (the specification)', (name, value, key, expected, message) => {
    const warnings: string[] = [];
    const spy = jest.spyOn(diag, 'warn').mockImplementation((m: string) => void warnings.push(m));
    try {
      const o = resolveBatchingOptions({ env: { [name]: value } }, 'OTEL_BLRP');
      expect(o[key as keyof typeof o]).toBe(expected);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(message);
    } finally {
      spy.mockRestore();
    }
  });

  it('a timer option beyond what Node keeps is refused: it would fire after 1 ms', () => {
    expect(() => resolveBatchingOptions({ exportTimeoutMillis: 3e9, env: {} }, 'OTEL_BLRP')).toThrow(/exportTimeoutMillis must be <= 2147483647 ms/);
  });

  it('the processors validate on construction', () => {
    expect(() => new BatchingLogRecordProcessor({ exporter: new ScriptedExporter(), maxQueueSize: 0, env: {} })).toThrow(/maxQueueSize/);
    expect(() => new BatchingLogRecordProcessor(undefined as never)).toThrow(/exporter is required/);
  });
});
