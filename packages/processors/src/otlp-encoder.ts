import type { Attributes, AnyValue, HrTime, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import type { Link } from '@opentelemetry/api';
import type { ProtoWriter } from './proto-writer';

/*
 * OTLP protobuf encoding of single log records and spans, straight from the SDK's objects
 * into a ProtoWriter. Field by field the same as @opentelemetry/otlp-transformer's
 * serializers (test/encoder-fidelity.test.ts checks that they decode to the same
 * message), so that what the collector sees does not depend on which path sent it.
 */

const LEN = 2;
const VARINT = 0;
const I64 = 1;
const I32 = 5;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

function time(w: ProtoWriter, field: number, t: HrTime): void {
  w.tag(field, I64);
  w.hrTime(t[0], t[1]);
}

function hexField(w: ProtoWriter, field: number, hex: string): void {
  w.tag(field, LEN);
  const n = hex.length >> 1;
  w.varint32(n);
  w.ensure(n);
  const b = w.buf;
  let p = w.pos;
  for (let i = 0; i < hex.length; i += 2) b[p++] = (nibble(hex.charCodeAt(i)) << 4) | nibble(hex.charCodeAt(i + 1));
  w.pos = p;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return c - 55;
}

/** What a record's values may hold once encoded (see {@link RecordEncoder}). */
export interface ValueLimits {
  /** UTF-8 bytes of any one string or bytes value in a record (body, attributes, nested values). Infinity: none. */
  maxValueBytes: number;
  /**
   * UTF-16 units of an attribute's string value (bytes of a bytes value, each element of an array
   * or map alike), as the SDK's attributeValueLengthLimit. Infinity: none.
   */
  attributeValueLengthLimit: number;
}

export const NO_VALUE_LIMITS: Readonly<ValueLimits> = Object.freeze({ maxValueBytes: Infinity, attributeValueLengthLimit: Infinity });

/** What replaces a reference to an object that contains it (a cycle): a string value. */
export const CIRCULAR_MARKER = '[Circular]';

/** What a RecordEncoder changed in the values it wrote: counted, never thrown. */
export interface ValueCounts {
  /** String or bytes values cut to a limit. */
  truncated: number;
  /** References to an enclosing array or map, written as {@link CIRCULAR_MARKER}. */
  circular: number;
}

/**
 * Writes log records and spans as OTLP messages with their values kept within {@link ValueLimits}:
 * a longer string is cut at a character boundary, a longer bytes value at the limit, a cycle at
 * the repeated reference (a marker string), each counted in {@link counts}. A BigInt is an int
 * when it fits in int64, else its decimal string. The record itself is never changed.
 */
export class RecordEncoder {
  readonly counts: ValueCounts = { truncated: 0, circular: 0 };
  private maxBytes = Infinity;
  private attrUnits = Infinity;
  /** Strings up to this many UTF-16 units are within maxValueBytes whatever they hold (3 bytes per unit at most). */
  private safeUnits = Infinity;
  /** Arrays and maps being written, outermost first: a cycle is a reference to one of them. */
  private readonly ancestors: object[] = [];

  constructor(limits: Readonly<ValueLimits> = NO_VALUE_LIMITS) {
    this.setLimits(limits);
  }

  setLimits(limits: Readonly<ValueLimits>): void {
    this.maxBytes = limits.maxValueBytes;
    this.attrUnits = limits.attributeValueLengthLimit;
    this.safeUnits = Math.floor(limits.maxValueBytes / 3);
  }

  /** A LogRecord message's fields (no tag or length of its own). */
  readonly logRecord = (w: ProtoWriter, rec: ReadableLogRecord): void => {
    if (this.ancestors.length !== 0) this.ancestors.length = 0; // a record that threw half-way left its own behind
    encodeLogRecordWith(this, w, rec);
  };

  /** A Span message's fields (no tag or length of its own). */
  readonly span = (w: ProtoWriter, span: ReadableSpan): void => {
    if (this.ancestors.length !== 0) this.ancestors.length = 0;
    encodeSpanWith(this, w, span);
  };

  /** An AnyValue's fields; `units`: the UTF-16 limit of its strings (attributes), Infinity for a body. */
  anyValue(w: ProtoWriter, value: unknown, units: number): void {
    switch (typeof value) {
      case 'string':
        w.tag(1, LEN);
        if (value.length > units || value.length > this.safeUnits) {
          if (w.stringLimited(value, units, this.maxBytes)) this.counts.truncated++;
        } else w.string(value);
        return;
      case 'boolean':
        w.tag(2, VARINT);
        w.varint32(value ? 1 : 0);
        return;
      case 'number':
        if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
          w.tag(3, VARINT);
          w.varint64(value);
        } else {
          w.tag(4, I64);
          w.double(value);
        }
        return;
      case 'bigint':
      case 'object':
        this.otherValue(w, value, units);
        return;
      default:
        return; // undefined, a symbol, a function: an empty AnyValue, as the SDK writes them
    }
  }

  /** The rarer kinds, apart so that anyValue stays small enough to inline: BigInt, bytes, arrays, maps. */
  private otherValue(w: ProtoWriter, value: bigint | object | null, units: number): void {
    if (typeof value === 'bigint') {
      // OTLP's int is int64; a larger one keeps its digits as a string
      if (value >= MIN_INT64_BIG && value <= MAX_INT64_BIG) {
        w.tag(3, VARINT);
        w.varintBig(value);
      } else this.anyValue(w, value.toString(), units);
      return;
    }
    if (value === null) return;
    if (value instanceof Uint8Array) {
      const max = units < this.maxBytes ? units : this.maxBytes;
      w.tag(7, LEN);
      if (value.length > max) {
        w.bytes(value.subarray(0, max));
        this.counts.truncated++;
      } else w.bytes(value);
      return;
    }
    if (this.ancestors.includes(value)) {
      w.tag(1, LEN);
      w.string(CIRCULAR_MARKER);
      this.counts.circular++;
      return;
    }
    this.ancestors.push(value);
    if (Array.isArray(value)) {
      w.tag(5, LEN);
      const arr = w.fork();
      for (let i = 0; i < value.length; i++) {
        w.tag(1, LEN);
        const item = w.fork();
        this.anyValue(w, value[i], units);
        w.join(item);
      }
      w.join(arr);
    } else {
      w.tag(6, LEN);
      const list = w.fork();
      this.keyValues(w, value as Record<string, unknown>, 1, units);
      w.join(list);
    }
    this.ancestors.pop();
  }

  /** A string field other than a value (a span's name, a status message), within maxValueBytes. */
  text(w: ProtoWriter, s: string): void {
    if (typeof s !== 'string') s = String(s); // a name given as a number or symbol through the API
    if (s.length > this.safeUnits) {
      if (w.stringLimited(s, Infinity, this.maxBytes)) this.counts.truncated++;
    } else w.string(s);
  }

  /** Repeated KeyValue under `field` (symbol keys are not enumerated: they are not attributes). */
  keyValues(w: ProtoWriter, attrs: Record<string, unknown>, field: number, units: number = this.attrUnits): void {
    for (const key in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
      w.tag(field, LEN);
      const kv = w.fork();
      w.tag(1, LEN);
      w.string(key);
      w.tag(2, LEN);
      const v = w.fork();
      this.anyValue(w, attrs[key], units);
      w.join(v);
      w.join(kv);
    }
  }
}

const MIN_INT64_BIG = -(2n ** 63n);
const MAX_INT64_BIG = 2n ** 63n - 1n;

/** Without limits: resources, scopes, and the encodeLogRecord/encodeSpan functions. */
const unlimited = new RecordEncoder();

/** Repeated KeyValue under `field`. */
export function writeKeyValues(w: ProtoWriter, attrs: Record<string, unknown>, field: number): void {
  unlimited.keyValues(w, attrs, field, Infinity);
}

/** A LogRecord message's fields (no tag or length of its own), without value limits. */
export function encodeLogRecord(w: ProtoWriter, rec: ReadableLogRecord): void {
  unlimited.logRecord(w, rec);
}

/** A Span message's fields (no tag or length of its own), without value limits. */
export function encodeSpan(w: ProtoWriter, span: ReadableSpan): void {
  unlimited.span(w, span);
}

function encodeLogRecordWith(e: RecordEncoder, w: ProtoWriter, rec: ReadableLogRecord): void {
  time(w, 1, rec.hrTime);
  const sev = rec.severityNumber;
  if (sev !== undefined && sev !== 0) {
    w.tag(2, VARINT);
    w.varint64(sev);
  }
  if (rec.severityText) {
    w.tag(3, LEN);
    w.string(rec.severityText);
  }
  if (rec.body !== undefined) {
    w.tag(5, LEN);
    const body = w.fork();
    e.anyValue(w, rec.body, Infinity);
    w.join(body);
  }
  if (rec.attributes) e.keyValues(w, rec.attributes, 6);
  w.tag(7, VARINT);
  w.varint32(rec.droppedAttributesCount);
  const sc = rec.spanContext;
  if (sc) {
    if (sc.traceFlags) {
      w.tag(8, I32);
      w.fixed32(sc.traceFlags);
    }
    if (sc.traceId) hexField(w, 9, sc.traceId);
    if (sc.spanId) hexField(w, 10, sc.spanId);
  }
  time(w, 11, rec.hrTimeObserved);
  if (rec.eventName) {
    w.tag(12, LEN);
    w.string(rec.eventName);
  }
}

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

function writeEvent(enc: RecordEncoder, w: ProtoWriter, e: TimedEvent): void {
  time(w, 1, e.time);
  w.tag(2, LEN);
  enc.text(w, e.name);
  if (e.attributes) enc.keyValues(w, e.attributes, 3);
  w.tag(4, VARINT);
  w.varint32(e.droppedAttributesCount || 0);
}

function writeLink(enc: RecordEncoder, w: ProtoWriter, l: Link): void {
  const c: SpanContext = l.context;
  hexField(w, 1, c.traceId);
  hexField(w, 2, c.spanId);
  const ts = c.traceState?.serialize();
  if (ts) {
    w.tag(3, LEN);
    w.string(ts);
  }
  if (l.attributes) enc.keyValues(w, l.attributes, 4);
  w.tag(5, VARINT);
  w.varint32(l.droppedAttributesCount || 0);
  w.tag(6, I32);
  w.fixed32(spanFlags(c.traceFlags, c.isRemote));
}

function encodeSpanWith(enc: RecordEncoder, w: ProtoWriter, span: ReadableSpan): void {
  const ctx = span.spanContext();
  hexField(w, 1, ctx.traceId);
  hexField(w, 2, ctx.spanId);
  const ts = ctx.traceState?.serialize();
  if (ts) {
    w.tag(3, LEN);
    w.string(ts);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) hexField(w, 4, parent.spanId);
  w.tag(5, LEN);
  enc.text(w, span.name);
  const kind = span.kind == null ? 0 : span.kind + 1;
  if (kind !== 0) {
    w.tag(6, VARINT);
    w.varint32(kind);
  }
  time(w, 7, span.startTime);
  time(w, 8, span.endTime);
  if (span.attributes) enc.keyValues(w, span.attributes, 9);
  w.tag(10, VARINT);
  w.varint32(span.droppedAttributesCount);
  const events = span.events;
  for (let i = 0; i < events.length; i++) {
    w.tag(11, LEN);
    const e = w.fork();
    writeEvent(enc, w, events[i]);
    w.join(e);
  }
  w.tag(12, VARINT);
  w.varint32(span.droppedEventsCount);
  const links = span.links;
  for (let i = 0; i < links.length; i++) {
    w.tag(13, LEN);
    const l = w.fork();
    writeLink(enc, w, links[i]);
    w.join(l);
  }
  w.tag(14, VARINT);
  w.varint32(span.droppedLinksCount);
  w.tag(15, LEN);
  const st = w.fork();
  if (span.status.message) {
    w.tag(2, LEN);
    enc.text(w, span.status.message);
  }
  w.tag(3, VARINT);
  w.varint32(span.status.code);
  w.join(st);
  w.tag(16, I32);
  w.fixed32(spanFlags(ctx.traceFlags, parent?.isRemote));
}

/** A Resource message's fields. */
export function encodeResource(w: ProtoWriter, resource: Resource): void {
  if (resource.attributes) writeKeyValues(w, resource.attributes as Attributes, 1);
  w.tag(2, VARINT);
  w.varint32(0);
}

/** An InstrumentationScope message's fields. */
export function encodeScope(w: ProtoWriter, scope: InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number }): void {
  w.tag(1, LEN);
  w.string(scope.name);
  if (scope.version) {
    w.tag(2, LEN);
    w.string(scope.version);
  }
  if (scope.attributes) writeKeyValues(w, scope.attributes, 3);
  if (scope.droppedAttributesCount) {
    w.tag(4, VARINT);
    w.varint32(scope.droppedAttributesCount);
  }
}

export type { AnyValue };
