import { logs, SeverityNumber } from '@opentelemetry/api';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { BatchingLogRecordProcessor, CIRCULAR_MARKER, countRefusedEmits } from '@ccr/otel-processors';
import { InMemoryLogRecordExporter } from '@opentelemetry/sdk-logs';
import { REDACTED, Redactor } from '../src/redact';
import { RedactingLogRecordProcessor } from '../src/redacting-processors';
import { createLogger } from '../src/logger';

const throwing = () => {
  const o: Record<string, unknown> = { fine: 1 };
  Object.defineProperty(o, 'boom', { enumerable: true, get: () => { throw new Error('getter'); } });
  return o;
};

describe('the redactor and cycles', () => {
  const r = new Redactor();

  it('a clean cyclic value is returned as it is (the encoder cuts the cycle and counts it), without walking 16 levels of it', () => {
    const o: Record<string, unknown> = { a: 'plain', list: [] };
    o.self = o;
    (o.list as unknown[]).push(o);
    expect(r.redactValue(o as never)).toBe(o);
  });

  it('a cyclic value with a secret: a copy, redacted, whose cycles are the marker (no reference back into the original)', () => {
    const o: Record<string, unknown> = { api_key: 'sk-live-0123456789abcdef', inner: { note: 'x' } };
    o.self = o;
    (o.inner as Record<string, unknown>).up = o;
    const out = r.redactValue(o as never) as Record<string, any>;
    expect(out).not.toBe(o);
    expect(out).toEqual({ api_key: REDACTED, inner: { note: 'x', up: CIRCULAR_MARKER }, self: CIRCULAR_MARKER });
    expect(o.api_key).toBe('sk-live-0123456789abcdef'); // the input is never changed
  });

  it('a shared, acyclic reference is not a cycle', () => {
    const shared = { v: 'Bearer abcdefghijklmnop0123' };
    const out = r.redactValue({ a: shared, b: shared } as never) as Record<string, any>;
    expect(out.a).toEqual({ v: expect.not.stringContaining('abcdefghijklmnop0123') });
    expect(out.b).toEqual(out.a);
  });
});

describe("the preload's logger with hostile input", () => {
  function setup() {
    const exporter = new InMemoryLogRecordExporter();
    const p = new BatchingLogRecordProcessor({ env: {}, exporter });
    const provider = new LoggerProvider({ processors: [new RedactingLogRecordProcessor(), p] });
    countRefusedEmits(provider, p);
    logs.setGlobalLoggerProvider(provider);
    return { exporter, p, provider };
  }
  afterEach(() => logs.disable());

  it('an Error or attributes whose getters throw: counted as unreadable, never thrown', async () => {
    const { exporter, p, provider } = setup();
    const log = createLogger('t');
    const err = new Error('boom');
    Object.defineProperty(err, 'stack', { get: () => { throw new Error('stack'); } });
    expect(() => log.error(err)).not.toThrow();
    expect(() => log.error(new Error('fine'), throwing() as never)).not.toThrow();
    expect(() => log.fatal(new Error('fine'), throwing() as never)).not.toThrow();
    expect(() => log.info('x', throwing() as never)).not.toThrow();
    log.error(new Error('kept'), { a: 1 });
    await p.forceFlush();
    expect(p.stats().dropped.unreadable).toBe(4);
    expect(exporter.getFinishedLogRecords().map((r) => [r.body, r.attributes['exception.message'], r.severityNumber])).toEqual([['kept', 'kept', SeverityNumber.ERROR]]);
    await provider.shutdown();
  });
});

describe('value limits in the configuration', () => {
  const { resolveConfig } = require('../src/config/resolve') as typeof import('../src/config/resolve');
  const { validateLayer } = require('../src/config/file') as typeof import('../src/config/file');
  const resolve = (env: NodeJS.ProcessEnv, file?: object) => {
    const warnings: string[] = [];
    const cfg = resolveConfig({ env, warn: (m) => warnings.push(m), file: file as never });
    return { cfg, warnings };
  };

  it('defaults: 1 MiB per value, no attribute length limit (the processors own defaults)', () => {
    const { cfg } = resolve({});
    for (const s of ['logs', 'spans'] as const) {
      expect(cfg.batching[s].maxValueBytes).toBe(1024 * 1024);
      expect(cfg.batching[s].attributeValueLengthLimit).toBe(Infinity);
    }
  });

  it('the standard variables: the signal own one wins over OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT; a bad value warns and keeps the default', () => {
    const { cfg } = resolve({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '50', CCR_OTEL_MAX_VALUE_BYTES: '4096' });
    expect([cfg.batching.logs.attributeValueLengthLimit, cfg.batching.spans.attributeValueLengthLimit]).toEqual([100, 50]);
    expect([cfg.batching.logs.maxValueBytes, cfg.batching.spans.maxValueBytes]).toEqual([4096, 4096]);
    const bad = resolve({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '0', CCR_OTEL_MAX_VALUE_BYTES: 'lots' });
    expect(bad.cfg.batching.logs.attributeValueLengthLimit).toBe(Infinity);
    expect(bad.cfg.batching.logs.maxValueBytes).toBe(1024 * 1024);
    expect(bad.warnings.some((w) => w.startsWith('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="0"'))).toBe(true);
    expect(bad.warnings.some((w) => w.startsWith('CCR_OTEL_MAX_VALUE_BYTES="lots"'))).toBe(true);
  });

  it('file keys, validated', () => {
    expect(resolve({}, { batching: { logs: { maxValueBytes: 2048, attributeValueLengthLimit: 64 } } }).cfg.batching.logs).toMatchObject({ maxValueBytes: 2048, attributeValueLengthLimit: 64 });
    expect(validateLayer({ batching: { spans: { maxValueBytes: 0 } } })).toMatch(/^batching.spans.maxValueBytes: must be an integer >= 1/);
  });
});
