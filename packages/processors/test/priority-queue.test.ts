import { ROOT_CONTEXT, SeverityNumber, trace } from '@opentelemetry/api';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BatchingLogRecordProcessor, LOG_RECORD_CODEC } from '../src';
import { PriorityQueue } from '../src/priority-queue';
import { loggerFor, ScriptedExporter, tick } from './helpers';

describe('the log queue columns', () => {
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
    await tick();
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

  it('sheds by estimated bytes: lower classes first, the new record when nothing is below it', () => {
    const q = new PriorityQueue(6, LOG_RECORD_CODEC);
    const rec = (body: string, severityNumber: number) =>
      ({ body, severityNumber, attributes: { key: body }, hrTime: [1, 2], hrTimeObserved: [3, 4], droppedAttributesCount: 0 }) as never;
    q.push(rec('a'.repeat(100), 9), 2);
    q.push(rec('b'.repeat(100), 5), 1);
    const before = q.bytes;
    q.shed(1);
    expect(q.bytes).toBeLessThan(before);
    q.push(rec('c', 17), 4);
    q.shedNewest(4);
    const batch = q.newBatch();
    expect(q.take(batch, 10)).toBe(1);
    const out: ReadableLogRecord[] = [];
    batch.decodeAll(out as never[]);
    const again: ReadableLogRecord[] = [];
    batch.decodeAll(again as never[]); // a retry decodes the same records afresh
    expect(again).toEqual(out);
    expect(again[0]).not.toBe(out[0]);
    expect(out.map((r) => r.body)).toEqual(['a'.repeat(100)]);
    expect(out[0].attributes).toEqual({ key: 'a'.repeat(100) });
    expect(q.length).toBe(0);
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
    await tick();
    exporter.completeOne();
    await flushed;
    expect(exporter.accepted.map((r) => String(r.body)[0])).toEqual(['y', 'e']);
    expect(p.stats().dropped.queue_full).toBe(2);
  });
});
