import { ROOT_CONTEXT, SeverityNumber, trace } from '@opentelemetry/api';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { defaultResource } from '@opentelemetry/resources';
import { BatchingLogRecordProcessor, decodeLogRecords, encodeLogRecord, ProtoWriter, RecordStore } from '../src';
import { recordFieldBytes } from '../src/record-store';
import { loggerFor, ScriptedExporter, tick, ticksUntil } from './helpers';

describe('the record store', () => {
  it('give back every field of a record, attributes included, after records around it were shed', async () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxQueueSize: 4, maxExportBatchSize: 4, scheduledDelayMillis: 60000 });
    const { logger } = loggerFor(p);
    const spanContext = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 };
    logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'd1', attributes: { a: 1, b: 'x', c: [1, 2] } });
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'i1', attributes: { k: 'v' }, timestamp: 1_700_000_000_123, eventName: 'ev', context: trace.setSpanContext(ROOT_CONTEXT, spanContext) });
    logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'd2', attributes: { z: true, y: 2.5 } });
    logger.emit({ severityNumber: SeverityNumber.WARN, body: { nested: 'map' }, attributes: {} });
    // full: these displace d1 and d2 (and their attributes) from the middle of the order
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'e1', attributes: { e: 'one', f: 2 } });
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'e2', attributes: { only: 'e2' }, context: undefined });
    const flushed = p.forceFlush();
    await ticksUntil(() => exporter.pending.length > 0);
    exporter.completeOne();
    await flushed;
    const got = exporter.accepted as ReadableLogRecord[];
    expect(got.map((r) => r.body)).toEqual(['i1', { nested: 'map' }, 'e1', 'e2']);
    expect(got.map((r) => r.attributes)).toEqual([{ k: 'v' }, {}, { e: 'one', f: 2 }, { only: 'e2' }]);
    expect(got[0]).toMatchObject({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', eventName: 'ev', hrTime: [1_700_000_000, 123_000_000] });
    expect(got[0].resource).toBeDefined();
    expect(got[0].instrumentationScope.name).toBe('test');
    expect(got[0].spanContext).toEqual(spanContext);
    expect(got[2].spanContext).toBeUndefined();
  });

  it('counts the exact encoded bytes and sheds lower classes first, the newest when asked', () => {
    const q = new RecordStore(6);
    const resource = defaultResource();
    const scope = { name: 's' };
    const w = new ProtoWriter(16);
    const push = (body: string, severityNumber: number, cls: number) => {
      const rec = { body, severityNumber, attributes: { key: body }, hrTime: [1, 2], hrTimeObserved: [3, 4], droppedAttributesCount: 0, resource, instrumentationScope: scope } as never;
      w.reset();
      encodeLogRecord(w, rec);
      q.push(w.buf, w.pos, cls, resource, scope);
      return recordFieldBytes(w.pos);
    };
    const a = push('a'.repeat(100), 9, 2);
    expect(a).toBeGreaterThan(200); // body and attribute value, UTF-8, plus the fixed fields
    expect(q.bytes).toBe(a);
    const b = push('b'.repeat(100), 5, 1);
    expect(q.bytes).toBe(a + b);
    q.shed(1);
    expect(q.bytes).toBe(a);
    push('c', 17, 4);
    q.shedNewest(4);
    expect(q.bytes).toBe(a);
    const batch = q.take(10)!;
    expect(batch).toMatchObject({ count: 1, minClass: 2, maxClass: 2 });
    const out = decodeLogRecords(batch);
    const again = decodeLogRecords(batch); // a retry sends the same bytes; decoding them again gives equal records
    expect(again).toEqual(out);
    expect(again[0]).not.toBe(out[0]);
    expect(out.map((r) => r.body)).toEqual(['a'.repeat(100)]);
    expect(out[0].attributes).toEqual({ key: 'a'.repeat(100) });
    expect(out[0].resource).toBe(resource);
    expect(out[0].instrumentationScope).toBe(scope);
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('counts a non-ASCII string by its UTF-8 length', () => {
    const q = new RecordStore(1);
    const resource = defaultResource();
    const scope = { name: 's' };
    const w = new ProtoWriter(16);
    const size = (body: string) => {
      w.reset();
      encodeLogRecord(w, { body, hrTime: [0, 0], hrTimeObserved: [0, 0], droppedAttributesCount: 0, attributes: {}, resource, instrumentationScope: scope } as never);
      q.push(w.buf, w.pos, 0, resource, scope);
      return w.pos;
    };
    expect(size('日本語'.repeat(10)) - size('x'.repeat(30))).toBe(60); // 3 bytes a character, not 1
  });

  it('keeps records apart across many slabs and resources, in arrival order', () => {
    const q = new RecordStore(2);
    const r1 = defaultResource();
    const r2 = defaultResource();
    const s1 = { name: 'one' };
    const s2 = { name: 'two', version: '2' };
    const w = new ProtoWriter(16);
    const groups = [[r1, s1], [r2, s1], [r1, s2]] as const;
    for (let i = 0; i < 5000; i++) {
      const [resource, scope] = groups[i % 3];
      w.reset();
      encodeLogRecord(w, { body: `r${i}-${'x'.repeat(i % 50)}`, hrTime: [i, 0], hrTimeObserved: [i, 0], droppedAttributesCount: 0, attributes: {}, resource, instrumentationScope: scope } as never);
      q.push(w.buf, w.pos, i % 2, resource, scope);
    }
    const bodies: string[] = [];
    for (let b = q.take(512); b; b = q.take(512)) {
      const recs = decodeLogRecords(b);
      // grouped: each resource/scope pair once per batch, the scopes of one resource together
      const pairs = b.scopes.map((g) => `${g.resource === r1 ? 'r1' : 'r2'}/${g.scope.name}`);
      expect(new Set(pairs).size).toBe(3);
      const res = pairs.map((x) => x.split('/')[0]);
      expect(res.indexOf('r1') + res.lastIndexOf('r1')).toBeLessThanOrEqual(2 * res.indexOf('r1') + 1);
      expect(recs).toHaveLength(b.count);
      for (const r of recs) bodies.push(String(r.body).split('-')[0]);
    }
    expect(bodies.sort()).toEqual(Array.from({ length: 5000 }, (_, i) => `r${i}`).sort());
    expect(q.bytes).toBe(0);
  });

  it('a queue over its byte bound drops the new record when it is the least severe', async () => {
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxQueueBytes: 2048, scheduledDelayMillis: 60000 });
    const { logger } = loggerFor(p);
    logger.emit({ severityNumber: SeverityNumber.INFO, body: 'x'.repeat(900) });
    logger.emit({ severityNumber: SeverityNumber.INFO, body: 'y'.repeat(900) });
    logger.emit({ severityNumber: SeverityNumber.INFO, body: 'z'.repeat(900) }); // over: the new one goes
    logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'e'.repeat(900) }); // over: the oldest INFO goes
    const flushed = p.forceFlush();
    await ticksUntil(() => exporter.pending.length > 0);
    exporter.completeOne();
    await flushed;
    expect(exporter.accepted.map((r) => String(r.body)[0])).toEqual(['y', 'e']);
    expect(p.stats().dropped.queue_full).toBe(2);
  });
});
