import type { Attributes, AnyValue, HrTime, SeverityNumber, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { RecordCodec, RefFifo } from './record-codec';

/** The record handed to the exporter: a plain ReadableLogRecord rebuilt from the queue's columns. */
export class QueuedLogRecord implements ReadableLogRecord {
  constructor(
    readonly hrTime: HrTime,
    readonly hrTimeObserved: HrTime,
    readonly spanContext: SpanContext | undefined,
    readonly severityText: string | undefined,
    readonly severityNumber: SeverityNumber | undefined,
    readonly body: AnyValue | undefined,
    readonly eventName: string | undefined,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
    readonly attributes: Attributes,
    readonly droppedAttributesCount: number,
  ) {}
}

const BODY = 0;
const SPAN = 1;
const SEV_TEXT = 2;
const EVENT = 3;
const RESOURCE = 4;
const SCOPE = 5;

const T0 = 0;
const T1 = 1;
const O0 = 2;
const O1 = 3;
const SEV = 4;
const DROPPED = 5;
const NATTRS = 6;

/**
 * Stores a log record as 6 references and 7 numbers, its attributes as key/value pairs in
 * the class's FIFO. Neither the SDK's LogRecordImpl nor its attributes object nor its time
 * arrays are kept, so queued records make no long-lived objects of their own (see bench/).
 * The size estimate is an upper-bound guess of the record's OTLP bytes.
 */
export const LOG_RECORD_CODEC: RecordCodec<ReadWriteLogRecord | ReadableLogRecord> = {
  refSlots: 6,
  numSlots: 7,
  encode(rec, refs, r, nums, n, extras) {
    const body = rec.body;
    let size = 64;
    if (typeof body === 'string') size += body.length;
    else if (body !== undefined && body !== null) size += 128;
    refs[r + BODY] = body;
    refs[r + SPAN] = rec.spanContext;
    refs[r + SEV_TEXT] = rec.severityText;
    refs[r + EVENT] = rec.eventName;
    refs[r + RESOURCE] = rec.resource;
    refs[r + SCOPE] = rec.instrumentationScope;
    const t = rec.hrTime;
    const o = rec.hrTimeObserved;
    nums[n + T0] = t[0];
    nums[n + T1] = t[1];
    nums[n + O0] = o[0];
    nums[n + O1] = o[1];
    nums[n + SEV] = rec.severityNumber ?? -1;
    nums[n + DROPPED] = rec.droppedAttributesCount;
    const attrs = rec.attributes;
    let count = 0;
    for (const k in attrs) {
      const v = attrs[k];
      extras.push(k);
      extras.push(v);
      count++;
      size += k.length + (typeof v === 'string' ? v.length + 4 : 12);
    }
    nums[n + NATTRS] = count;
    return size;
  },
  decode(refs, r, nums, n, extras, e) {
    const sev = nums[n + SEV];
    const attributes: Attributes = {};
    const end = e + nums[n + NATTRS] * 2;
    for (let i = e; i < end; i += 2) attributes[extras.at(i) as string] = extras.at(i + 1) as Attributes[string];
    const t0 = nums[n + T0];
    const t1 = nums[n + T1];
    const time: HrTime = [t0, t1];
    return new QueuedLogRecord(
      time,
      // usually the same instant: share the (read-only) array
      nums[n + O0] === t0 && nums[n + O1] === t1 ? time : [nums[n + O0], nums[n + O1]],
      refs[r + SPAN] as SpanContext | undefined,
      refs[r + SEV_TEXT] as string | undefined,
      sev < 0 ? undefined : (sev as SeverityNumber),
      refs[r + BODY] as AnyValue | undefined,
      refs[r + EVENT] as string | undefined,
      refs[r + RESOURCE] as Resource,
      refs[r + SCOPE] as InstrumentationScope,
      attributes,
      nums[n + DROPPED],
    );
  },
  extraCount(nums, n) {
    return nums[n + NATTRS] * 2;
  },
};
