import type { Attributes, AnyValue, HrTime, SeverityNumber, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { RecordCodec } from './record-codec';

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
const ATTRS = 1;
const SPAN = 2;
const SEV_TEXT = 3;
const EVENT = 4;
const RESOURCE = 5;
const SCOPE = 6;

/**
 * Stores a log record as 7 references and 6 numbers: the SDK's LogRecordImpl (and its
 * two time arrays) is not kept, so a queue of 65,536 records holds about a third of
 * the memory it would otherwise (see bench/).
 */
export const LOG_RECORD_CODEC: RecordCodec<ReadWriteLogRecord | ReadableLogRecord> = {
  refSlots: 7,
  numSlots: 6,
  encode(rec, refs, r, nums, n) {
    refs[r + BODY] = rec.body;
    refs[r + ATTRS] = rec.attributes;
    refs[r + SPAN] = rec.spanContext;
    refs[r + SEV_TEXT] = rec.severityText;
    refs[r + EVENT] = rec.eventName;
    refs[r + RESOURCE] = rec.resource;
    refs[r + SCOPE] = rec.instrumentationScope;
    const t = rec.hrTime;
    const o = rec.hrTimeObserved;
    nums[n] = t[0];
    nums[n + 1] = t[1];
    nums[n + 2] = o[0];
    nums[n + 3] = o[1];
    nums[n + 4] = rec.severityNumber ?? -1;
    nums[n + 5] = rec.droppedAttributesCount;
  },
  decode(refs, r, nums, n) {
    const sev = nums[n + 4];
    return new QueuedLogRecord(
      [nums[n], nums[n + 1]],
      [nums[n + 2], nums[n + 3]],
      refs[r + SPAN] as SpanContext | undefined,
      refs[r + SEV_TEXT] as string | undefined,
      sev < 0 ? undefined : (sev as SeverityNumber),
      refs[r + BODY] as AnyValue | undefined,
      refs[r + EVENT] as string | undefined,
      refs[r + RESOURCE] as Resource,
      refs[r + SCOPE] as InstrumentationScope,
      refs[r + ATTRS] as Attributes,
      nums[n + 5],
    );
  },
};
