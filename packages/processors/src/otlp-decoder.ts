import {
  SpanKind,
  type AnyValue,
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanStatus,
} from '@opentelemetry/api';
import { TraceState, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import type { EncodedBatch } from './record-store';

/*
 * Turns an encoded batch back into SDK records, for an exporter given to a processor
 * (an in-memory exporter in a test, a custom one): the inverse of otlp-encoder.ts.
 * The fast path (OtlpHttpExporter) never decodes. One thing a JS object cannot give back:
 * map keys that differed only by lone surrogates (both became U+FFFD in UTF-8) decode to
 * one key, the later value winning; the encoded bytes keep both.
 */

export class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  varint(): number {
    let lo = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.buf[this.pos++];
      if (shift < 28) lo |= (b & 127) << shift;
      else if (shift === 28) {
        lo |= (b & 15) << 28;
        return this.varintHigh(lo >>> 0, b);
      }
      shift += 7;
    } while (b & 128);
    return lo >>> 0;
  }

  /** The rest of a varint beyond 28 bits; the value as a (signed int64) number. */
  private varintHigh(lo: number, b: number): number {
    let hi = (b & 127) >> 4;
    let shift = 3;
    while (b & 128) {
      b = this.buf[this.pos++];
      hi |= (b & 127) << shift;
      shift += 7;
    }
    hi >>>= 0;
    if (hi & 0x80000000) {
      // negative: two's complement
      const nlo = (~lo + 1) >>> 0;
      const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
      return -(nhi * 4294967296 + nlo);
    }
    return hi * 4294967296 + lo;
  }

  /** A varint as an unsigned 64-bit BigInt (exact). */
  varintBig(): bigint {
    let v = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.buf[this.pos++];
      v |= BigInt(b & 127) << shift;
      shift += 7n;
    } while (b & 128);
    return BigInt.asUintN(64, v);
  }

  fixed32(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  /** fixed64 nanoseconds as HrTime (BigInt: exact, and this path is not hot). */
  hrTime(): HrTime {
    const lo = this.fixed32();
    const hi = this.fixed32();
    const t = (BigInt(hi) << 32n) | BigInt(lo);
    return [Number(t / 1_000_000_000n), Number(t % 1_000_000_000n)];
  }

  double(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** Start and end of a length-delimited field's content; moves past it. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  string(): string {
    const [s, e] = this.span();
    return decoder.decode(this.buf.subarray(s, e));
  }

  bytes(): Uint8Array {
    const [s, e] = this.span();
    return this.buf.slice(s, e);
  }

  hex(): string {
    const [s, e] = this.span();
    let out = '';
    for (let i = s; i < e; i++) out += HEX[this.buf[i]];
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.span();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }

  sub(): Reader {
    const [s, e] = this.span();
    return new Reader(this.buf, s, e);
  }
}

// ignoreBOM: a string that starts with U+FEFF keeps it (by default TextDecoder strips it)
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function anyValue(r: Reader): AnyValue {
  let v: AnyValue = undefined;
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        v = r.string();
        break;
      case 2:
        v = r.varint() !== 0;
        break;
      case 3:
        v = r.varint();
        break;
      case 4:
        v = r.double();
        break;
      case 5: {
        const a = r.sub();
        const arr: AnyValue[] = [];
        while (a.pos < a.end) {
          a.varint();
          arr.push(anyValue(a.sub()));
        }
        v = arr;
        break;
      }
      case 6: {
        const m = r.sub();
        const obj: Record<string, AnyValue> = {};
        while (m.pos < m.end) {
          m.varint();
          keyValue(m.sub(), obj);
        }
        v = obj;
        break;
      }
      case 7:
        v = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return v;
}

function keyValue(r: Reader, into: Record<string, unknown>): void {
  let key = '';
  let value: AnyValue = undefined;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 === 1) key = r.string();
    else if (tag >>> 3 === 2) value = anyValue(r.sub());
    else r.skip(tag & 7);
  }
  // '__proto__' is a key like any other in OTLP: as an own property, not the object's prototype
  if (key === '__proto__') Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
  else into[key] = value;
}

/** The records of an encoded batch, with the resource and scope objects they came with. */
function forEachRecord(batch: EncodedBatch, fn: (r: Reader, resource: Resource, scope: InstrumentationScope) => void): void {
  const top = new Reader(batch.bytes);
  let k = 0;
  while (top.pos < top.end) {
    top.varint();
    const rl = top.sub();
    while (rl.pos < rl.end) {
      const tag = rl.varint();
      if (tag >>> 3 !== 2) {
        rl.skip(tag & 7);
        continue;
      }
      const { resource, scope } = batch.scopes[k++];
      const sl = rl.sub();
      while (sl.pos < sl.end) {
        const t = sl.varint();
        if (t >>> 3 === 2) fn(sl.sub(), resource, scope);
        else sl.skip(t & 7);
      }
    }
  }
}

export function decodeLogRecords(batch: EncodedBatch): ReadableLogRecord[] {
  const out: ReadableLogRecord[] = [];
  forEachRecord(batch, (r, resource, instrumentationScope) => {
    let hrTime: HrTime = [0, 0];
    let hrTimeObserved: HrTime = [0, 0];
    let severityNumber: number | undefined;
    let severityText: string | undefined;
    let body: AnyValue | undefined;
    const attributes: Attributes = {};
    let droppedAttributesCount = 0;
    let traceFlags = 0;
    let traceId: string | undefined;
    let spanId: string | undefined;
    let eventName: string | undefined;
    while (r.pos < r.end) {
      const tag = r.varint();
      switch (tag >>> 3) {
        case 1: hrTime = r.hrTime(); break;
        case 2: severityNumber = r.varint(); break;
        case 3: severityText = r.string(); break;
        case 5: body = anyValue(r.sub()) ?? null; break; // present but empty: null, which encodes the same
        case 6: keyValue(r.sub(), attributes); break;
        case 7: droppedAttributesCount = r.varint(); break;
        case 8: traceFlags = r.fixed32(); break;
        case 9: traceId = r.hex(); break;
        case 10: spanId = r.hex(); break;
        case 11: hrTimeObserved = r.hrTime(); break;
        case 12: eventName = r.string(); break;
        default: r.skip(tag & 7);
      }
    }
    const spanContext: SpanContext | undefined = traceId !== undefined ? { traceId, spanId: spanId ?? '', traceFlags } : undefined;
    out.push({ hrTime, hrTimeObserved, spanContext, severityNumber, severityText, body, eventName, resource, instrumentationScope, attributes, droppedAttributesCount });
  });
  return out;
}

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

class DecodedSpan implements ReadableSpan {
  name = '';
  kind = SpanKind.INTERNAL;
  context: SpanContext = { traceId: '', spanId: '', traceFlags: 0 };
  parentSpanContext: SpanContext | undefined;
  startTime: HrTime = [0, 0];
  endTime: HrTime = [0, 0];
  status: SpanStatus = { code: 0 };
  attributes: Attributes = {};
  links: Link[] = [];
  events: TimedEvent[] = [];
  ended = true;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  constructor(
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {}
  spanContext(): SpanContext {
    return this.context;
  }
  get duration(): HrTime {
    let s = this.endTime[0] - this.startTime[0];
    let n = this.endTime[1] - this.startTime[1];
    if (n < 0) {
      s -= 1;
      n += 1e9;
    }
    return [s, n];
  }
}

function attributesInto(r: Reader, into: Attributes): void {
  keyValue(r, into);
}

export function decodeSpans(batch: EncodedBatch): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  forEachRecord(batch, (r, resource, scope) => {
    const s = new DecodedSpan(resource, scope);
    let traceId = '';
    let spanId = '';
    let traceState: string | undefined;
    let parentSpanId: string | undefined;
    let flags = 0;
    while (r.pos < r.end) {
      const tag = r.varint();
      switch (tag >>> 3) {
        case 1: traceId = r.hex(); break;
        case 2: spanId = r.hex(); break;
        case 3: traceState = r.string(); break;
        case 4: parentSpanId = r.hex(); break;
        case 5: s.name = r.string(); break;
        case 6: s.kind = r.varint() - 1; break;
        case 7: s.startTime = r.hrTime(); break;
        case 8: s.endTime = r.hrTime(); break;
        case 9: attributesInto(r.sub(), s.attributes); break;
        case 10: s.droppedAttributesCount = r.varint(); break;
        case 11: s.events.push(decodeEvent(r.sub())); break;
        case 12: s.droppedEventsCount = r.varint(); break;
        case 13: s.links.push(decodeLink(r.sub())); break;
        case 14: s.droppedLinksCount = r.varint(); break;
        case 15: s.status = decodeStatus(r.sub()); break;
        case 16: flags = r.fixed32(); break;
        default: r.skip(tag & 7);
      }
    }
    s.context = { traceId, spanId, traceFlags: flags & 0xff };
    if (traceState !== undefined) s.context.traceState = new TraceState(traceState);
    if (parentSpanId !== undefined) {
      s.parentSpanContext = { traceId, spanId: parentSpanId, traceFlags: flags & 0xff };
      if (flags & HAS_IS_REMOTE) s.parentSpanContext.isRemote = (flags & IS_REMOTE) !== 0;
    }
    out.push(s);
  });
  return out;
}

function decodeEvent(r: Reader): TimedEvent {
  const e: TimedEvent = { time: [0, 0], name: '', attributes: {}, droppedAttributesCount: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1: e.time = r.hrTime(); break;
      case 2: e.name = r.string(); break;
      case 3: attributesInto(r.sub(), e.attributes!); break;
      case 4: e.droppedAttributesCount = r.varint(); break;
      default: r.skip(tag & 7);
    }
  }
  return e;
}

function decodeLink(r: Reader): Link {
  const context: SpanContext = { traceId: '', spanId: '', traceFlags: 0 };
  const l: Link = { context, attributes: {}, droppedAttributesCount: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1: context.traceId = r.hex(); break;
      case 2: context.spanId = r.hex(); break;
      case 3: context.traceState = new TraceState(r.string()); break;
      case 4: attributesInto(r.sub(), l.attributes!); break;
      case 5: l.droppedAttributesCount = r.varint(); break;
      case 6: {
        const f = r.fixed32();
        context.traceFlags = f & 0xff;
        if (f & HAS_IS_REMOTE) context.isRemote = (f & IS_REMOTE) !== 0;
        break;
      }
      default: r.skip(tag & 7);
    }
  }
  return l;
}

function decodeStatus(r: Reader): SpanStatus {
  const st: SpanStatus = { code: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 === 2) st.message = r.string();
    else if (tag >>> 3 === 3) st.code = r.varint();
    else r.skip(tag & 7);
  }
  return st;
}
