import fc from 'fast-check';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import {
  BatchingLogRecordProcessor,
  BatchingSpanProcessor,
  CIRCULAR_MARKER,
  countRefusedEmits,
  ProtoWriter,
  RecordEncoder,
  type EncodedBatch,
  type EncodedBatchExporter,
} from '../src';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { metricPoints, TestMetricReader } from './helpers';
import { decodeOtlp } from './otlp';

/** Keeps every batch's bytes; decoded with the official protos. */
class BytesExporter implements EncodedBatchExporter {
  readonly exportsEncodedBatches = true as const;
  readonly batches: Uint8Array[] = [];
  export(batch: EncodedBatch, cb: (r: ExportResult) => void): void {
    this.batches.push(batch.bytes);
    cb({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
  logRecords(): any[] {
    return this.batches.flatMap((b) => (decodeOtlp('logs', b) as any).resourceLogs.flatMap((r: any) => r.scopeLogs.flatMap((s: any) => s.logRecords)));
  }
  spans(): any[] {
    return this.batches.flatMap((b) => (decodeOtlp('traces', b) as any).resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans)));
  }
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes of one string field written with stringLimited, decoded strictly (throws on invalid UTF-8). */
function limited(s: string, units: number, bytes: number): { out: string; cut: boolean } {
  const w = new ProtoWriter(16);
  const cut = w.stringLimited(s, units, bytes);
  // skip the length varint
  let p = 0;
  while (w.buf[p] & 128) p++;
  return { out: decoder.decode(w.buf.subarray(p + 1, w.pos)), cut };
}

/** Any UTF-16 string: pairs, lone surrogates, ASCII, BMP. */
const anyString = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'é', '中', '😀', '\ud800', '\udc00'), fc.string({ unit: 'grapheme', maxLength: 1 })), maxLength: 60 });

describe('value limits: strings', () => {
  it('a cut string is valid UTF-8, a prefix of the original, within both limits, and as long as they allow', () => {
    fc.assert(
      fc.property(anyString, fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 200 }), (s, units, bytes) => {
        const { out, cut } = limited(s, units, bytes);
        const whole = s.toWellFormed();
        expect(whole.startsWith(out)).toBe(true);
        expect(utf8(out)).toBeLessThanOrEqual(bytes);
        expect(out.length).toBeLessThanOrEqual(units);
        expect(cut).toBe(out !== whole);
        if (cut) {
          // the next character would not have fitted (by units or bytes)
          const next = String.fromCodePoint(whole.codePointAt(out.length)!);
          expect(out.length + next.length > units || utf8(out + next) > bytes).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never leaves half of a surrogate pair at the cut', () => {
    expect(limited('ab😀', 3, 100).out).toBe('ab');
    expect(limited('ab😀', 4, 100).out).toBe('ab😀');
    expect(limited('ab😀', 100, 5).out).toBe('ab');
    expect(limited('ab😀', 100, 6).out).toBe('ab😀');
    expect(limited('é'.repeat(10), 100, 5).out).toBe('éé');
  });

  it('a 10 MB string is written as maxValueBytes of it, counted once', () => {
    const e = new RecordEncoder({ maxValueBytes: 1024 * 1024, attributeValueLengthLimit: Infinity });
    const w = new ProtoWriter();
    e.anyValue(w, 'x'.repeat(10 * 1024 * 1024), Infinity);
    expect(w.pos).toBeLessThan(1024 * 1024 + 10);
    expect(e.counts).toEqual({ truncated: 1, circular: 0 });
  });
});

describe('value limits: through the processors', () => {
  function logs(options: object = {}) {
    const exporter = new BytesExporter();
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, ...options });
    const provider = new LoggerProvider({ processors: [p] });
    countRefusedEmits(provider, p);
    return { exporter, p, provider, logger: provider.getLogger('t') };
  }

  it('cuts bodies to maxValueBytes and attributes to attributeValueLengthLimit, counted as truncated, not dropped', async () => {
    const { exporter, p, provider, logger } = logs({ maxValueBytes: 1000, attributeValueLengthLimit: 10 });
    logger.emit({ body: '€'.repeat(5000), attributes: { short: 'ok', long: 'y'.repeat(50), list: ['z'.repeat(20), 'a'], nested: { deep: 'q'.repeat(11) } } });
    logger.emit({ body: { text: 'w'.repeat(2000) } });
    await p.forceFlush();
    const [a, b] = exporter.logRecords();
    expect(a.body.stringValue).toBe('€'.repeat(333)); // 999 bytes: a 334th would be 1002
    const attrs = Object.fromEntries(a.attributes.map((kv: any) => [kv.key, kv.value]));
    expect(attrs.short.stringValue).toBe('ok');
    expect(attrs.long.stringValue).toBe('y'.repeat(10));
    expect(attrs.list.arrayValue.values.map((v: any) => v.stringValue)).toEqual(['z'.repeat(10), 'a']);
    expect(attrs.nested.kvlistValue.values[0].value.stringValue).toBe('q'.repeat(10));
    expect(b.body.kvlistValue.values[0].value.stringValue).toBe('w'.repeat(1000)); // bodies: maxValueBytes only
    const s = p.stats();
    expect(s.truncated).toBe(5);
    expect(s.exported).toBe(2);
    expect(Object.values(s.dropped).every((n) => n === 0)).toBe(true);
    await provider.shutdown();
  });

  it('reports what it changed as the metric ccr.processor.log.values_changed, by reason', async () => {
    const reader = new TestMetricReader();
    const { p, provider, logger } = logs({ maxValueBytes: 100, meterProvider: new MeterProvider({ readers: [reader] }) });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    logger.emit({ body: 'x'.repeat(500) });
    logger.emit({ body: cyclic as never });
    await p.forceFlush();
    const points = await metricPoints(reader, 'ccr.processor.log.values_changed');
    expect(Object.fromEntries(points.map((d) => [d.attributes.reason, d.value]))).toEqual({ truncated: 1, circular: 1, unreadable_call: 0 });
    await provider.shutdown();
  });

  it('reads the standard variables: the signal own one first, then OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT; a bad value keeps the default', () => {
    const exporter = new BytesExporter();
    const opt = (env: Record<string, string>) => new BatchingLogRecordProcessor({ env, exporter }).getOptions();
    expect(opt({}).attributeValueLengthLimit).toBe(Infinity);
    expect(opt({}).maxValueBytes).toBe(1024 * 1024);
    expect(opt({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '7' }).attributeValueLengthLimit).toBe(7);
    expect(opt({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '7', OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '9' }).attributeValueLengthLimit).toBe(9);
    expect(opt({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '-1' }).attributeValueLengthLimit).toBe(Infinity);
    expect(opt({ CCR_OTEL_MAX_VALUE_BYTES: '4096' }).maxValueBytes).toBe(4096);
    const spans = new BatchingSpanProcessor({ env: { OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '5', OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '9' }, exporter });
    expect(spans.getOptions().attributeValueLengthLimit).toBe(5);
    expect(() => new BatchingLogRecordProcessor({ env: {}, exporter, maxValueBytes: 0 })).toThrow(/maxValueBytes/);
  });

  it('setOptions changes the limits of the next records', async () => {
    const { exporter, p, provider, logger } = logs();
    logger.emit({ body: 'a'.repeat(100) });
    p.setOptions({ maxValueBytes: 10 });
    logger.emit({ body: 'a'.repeat(100) });
    await p.forceFlush();
    expect(exporter.logRecords().map((r) => r.body.stringValue.length)).toEqual([100, 10]);
    await provider.shutdown();
  });

  it('BigInt: an int when it fits in int64, else its digits (the SDK refuses one in an attribute)', async () => {
    const { exporter, p, provider, logger } = logs();
    const big = 2n ** 64n + 1n;
    logger.emit({ body: [5n, -(2n ** 63n), 2n ** 63n - 1n, big] as never });
    logger.emit({ body: 'x', attributes: { nested: { n: 7n, huge: big } as never } });
    await p.forceFlush();
    const [a, b] = exporter.logRecords();
    expect(a.body.arrayValue.values).toEqual([{ intValue: '5' }, { intValue: String(-(2n ** 63n)) }, { intValue: String(2n ** 63n - 1n) }, { stringValue: String(big) }]);
    // the SDK's maybeAddAttribute refuses a value holding a BigInt (not an AnyValue), with a diag warning
    expect(b.attributes ?? []).toEqual([]);
    await provider.shutdown();
  });

  it('a cycle is cut at the repeated reference with a marker and counted; a shared (acyclic) reference is not', async () => {
    const { exporter, p, provider, logger } = logs();
    const shared = { v: 1 };
    const body: Record<string, unknown> = { a: shared, b: shared, list: [] as unknown[] };
    body.self = body;
    (body.list as unknown[]).push(body.list, 'end');
    logger.emit({ body: body as never });
    await p.forceFlush();
    const [r] = exporter.logRecords();
    const m = Object.fromEntries(r.body.kvlistValue.values.map((kv: any) => [kv.key, kv.value]));
    expect(m.a).toEqual({ kvlistValue: { values: [{ key: 'v', value: { intValue: '1' } }] } });
    expect(m.b).toEqual(m.a);
    expect(m.self).toEqual({ stringValue: CIRCULAR_MARKER });
    expect(m.list.arrayValue.values).toEqual([{ stringValue: CIRCULAR_MARKER }, { stringValue: 'end' }]);
    expect(p.stats().circular).toBe(2);
    expect(p.stats().exported).toBe(1);
    await provider.shutdown();
  });

  it('symbol keys are not attributes; a symbol or function value is an empty value; invalid UTF-8 in a Buffer stays bytes', async () => {
    const { exporter, p, provider, logger } = logs({ maxValueBytes: 4 });
    const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0]);
    logger.emit({ body: { [Symbol('k')]: 1, s: Symbol('v'), f: () => 1, b: bad } as never });
    await p.forceFlush();
    const [r] = exporter.logRecords();
    const m = Object.fromEntries(r.body.kvlistValue.values.map((kv: any) => [kv.key, kv.value]));
    expect(Object.keys(m).sort()).toEqual(['b', 'f', 's']);
    expect(m.s).toEqual({});
    expect(Buffer.from(m.b.bytesValue, 'base64')).toEqual(bad.subarray(0, 4)); // cut to maxValueBytes too
    expect(p.stats().truncated).toBe(1);
    await provider.shutdown();
  });

  it('100k attributes: the SDK keeps 128, the rest is dropped_attributes_count', async () => {
    const { exporter, p, provider, logger } = logs();
    const attributes: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) attributes[`k${i}`] = i;
    logger.emit({ body: 'many', attributes });
    await p.forceFlush();
    const [r] = exporter.logRecords();
    expect(r.attributes).toHaveLength(128);
    expect(r.droppedAttributesCount).toBe(100_000 - 128);
    await provider.shutdown();
  });

  it('spans: name, attributes and event attributes within the limits', async () => {
    const exporter = new BytesExporter();
    const p = new BatchingSpanProcessor({ env: {}, exporter, maxValueBytes: 100, attributeValueLengthLimit: 8 });
    const provider = new TracerProvider({ spanProcessors: [p] });
    const span = provider.getTracer('t').startSpan('n'.repeat(500));
    span.setAttribute('a', 'x'.repeat(20));
    span.addEvent('e', { b: 'y'.repeat(20) });
    span.end();
    await p.forceFlush();
    const [s] = exporter.spans();
    expect(s.name).toBe('n'.repeat(100));
    expect(s.attributes[0].value.stringValue).toBe('x'.repeat(8));
    expect(s.events[0].attributes[0].value.stringValue).toBe('y'.repeat(8));
    expect(p.stats().truncated).toBe(3);
    await provider.shutdown();
  });
});
