import { Reader } from './otlp-decoder';

/*
 * OTLP/JSON from an encoded batch, transcoded field by field from the protobuf bytes (no SDK
 * records are rebuilt): proto3 JSON names, int64 and fixed64 as decimal strings, enums as
 * integers, trace and span ids as hex (the OTLP/JSON rule), other bytes as base64, NaN and
 * ±Infinity as strings, default scalars omitted. The SDK's JSON serializer writes int64
 * values as JSON numbers, which loses integers beyond 2^53: this does not.
 */

type Scalar = 'string' | 'bool' | 'int64' | 'uint' | 'double' | 'fixed64' | 'fixed32' | 'bytes' | 'hex';
interface Field {
  name: string;
  kind: Scalar | Message;
  repeated?: boolean;
  /** Member of a oneof: written even when it holds the default value. */
  oneof?: boolean;
}
type Message = { [field: number]: Field };

const KeyValue: Message = {};
const AnyValue: Message = {
  1: { name: 'stringValue', kind: 'string', oneof: true },
  2: { name: 'boolValue', kind: 'bool', oneof: true },
  3: { name: 'intValue', kind: 'int64', oneof: true },
  4: { name: 'doubleValue', kind: 'double', oneof: true },
  5: { name: 'arrayValue', kind: { 1: { name: 'values', kind: {}, repeated: true } }, oneof: true },
  6: { name: 'kvlistValue', kind: { 1: { name: 'values', kind: KeyValue, repeated: true } }, oneof: true },
  7: { name: 'bytesValue', kind: 'bytes', oneof: true },
};
(AnyValue[5].kind as Message)[1].kind = AnyValue;
KeyValue[1] = { name: 'key', kind: 'string' };
KeyValue[2] = { name: 'value', kind: AnyValue };

const attributes = (n: number): [number, Field] => [n, { name: 'attributes', kind: KeyValue, repeated: true }];
const Resource: Message = Object.fromEntries([attributes(1), [2, { name: 'droppedAttributesCount', kind: 'uint' }]]);
const Scope: Message = Object.fromEntries([
  [1, { name: 'name', kind: 'string' }],
  [2, { name: 'version', kind: 'string' }],
  attributes(3),
  [4, { name: 'droppedAttributesCount', kind: 'uint' }],
]);
const LogRecord: Message = Object.fromEntries([
  [1, { name: 'timeUnixNano', kind: 'fixed64' }],
  [11, { name: 'observedTimeUnixNano', kind: 'fixed64' }],
  [2, { name: 'severityNumber', kind: 'uint' }],
  [3, { name: 'severityText', kind: 'string' }],
  [5, { name: 'body', kind: AnyValue }],
  attributes(6),
  [7, { name: 'droppedAttributesCount', kind: 'uint' }],
  [8, { name: 'flags', kind: 'fixed32' }],
  [9, { name: 'traceId', kind: 'hex' }],
  [10, { name: 'spanId', kind: 'hex' }],
  [12, { name: 'eventName', kind: 'string' }],
]);
const SpanEvent: Message = Object.fromEntries([
  [1, { name: 'timeUnixNano', kind: 'fixed64' }],
  [2, { name: 'name', kind: 'string' }],
  attributes(3),
  [4, { name: 'droppedAttributesCount', kind: 'uint' }],
]);
const SpanLink: Message = Object.fromEntries([
  [1, { name: 'traceId', kind: 'hex' }],
  [2, { name: 'spanId', kind: 'hex' }],
  [3, { name: 'traceState', kind: 'string' }],
  attributes(4),
  [5, { name: 'droppedAttributesCount', kind: 'uint' }],
  [6, { name: 'flags', kind: 'fixed32' }],
]);
const Status: Message = { 2: { name: 'message', kind: 'string' }, 3: { name: 'code', kind: 'uint' } };
const Span: Message = Object.fromEntries([
  [1, { name: 'traceId', kind: 'hex' }],
  [2, { name: 'spanId', kind: 'hex' }],
  [3, { name: 'traceState', kind: 'string' }],
  [4, { name: 'parentSpanId', kind: 'hex' }],
  [5, { name: 'name', kind: 'string' }],
  [6, { name: 'kind', kind: 'uint' }],
  [7, { name: 'startTimeUnixNano', kind: 'fixed64' }],
  [8, { name: 'endTimeUnixNano', kind: 'fixed64' }],
  attributes(9),
  [10, { name: 'droppedAttributesCount', kind: 'uint' }],
  [11, { name: 'events', kind: SpanEvent, repeated: true }],
  [12, { name: 'droppedEventsCount', kind: 'uint' }],
  [13, { name: 'links', kind: SpanLink, repeated: true }],
  [14, { name: 'droppedLinksCount', kind: 'uint' }],
  [15, { name: 'status', kind: Status }],
  [16, { name: 'flags', kind: 'fixed32' }],
]);
const request = (resourceX: string, scopeX: string, records: string, record: Message): Message => ({
  1: {
    name: resourceX,
    repeated: true,
    kind: {
      1: { name: 'resource', kind: Resource },
      2: {
        name: scopeX,
        repeated: true,
        kind: { 1: { name: 'scope', kind: Scope }, 2: { name: records, kind: record, repeated: true }, 3: { name: 'schemaUrl', kind: 'string' } },
      },
      3: { name: 'schemaUrl', kind: 'string' },
    },
  },
});
const LOGS_REQUEST = request('resourceLogs', 'scopeLogs', 'logRecords', LogRecord);
const TRACES_REQUEST = request('resourceSpans', 'scopeSpans', 'spans', Span);

function scalar(r: Reader, kind: Scalar): unknown {
  switch (kind) {
    case 'string':
      return r.string();
    case 'bool':
      return r.varint() !== 0;
    case 'uint':
      return r.varint();
    case 'int64':
      return BigInt.asIntN(64, r.varintBig()).toString();
    case 'fixed64': {
      const lo = r.fixed32();
      const hi = r.fixed32();
      return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
    }
    case 'fixed32':
      return r.fixed32();
    case 'double': {
      const v = r.double();
      return Number.isFinite(v) ? v : String(v); // "NaN", "Infinity", "-Infinity"
    }
    case 'hex':
      return r.hex();
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
  }
}

function isDefault(v: unknown, kind: Scalar): boolean {
  return kind === 'int64' || kind === 'fixed64' ? v === '0' : v === 0 || v === '' || v === false;
}

function message(r: Reader, m: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = m[tag >>> 3];
    if (!f) {
      r.skip(tag & 7);
      continue;
    }
    const v = typeof f.kind === 'string' ? scalar(r, f.kind) : message(r.sub(), f.kind);
    if (f.repeated) ((out[f.name] ??= []) as unknown[]).push(v);
    else if (f.oneof || typeof f.kind !== 'string' || !isDefault(v, f.kind)) out[f.name] = v;
    else delete out[f.name]; // a later default value replaces an earlier one
  }
  return out;
}

/** The OTLP/JSON form of an encoded ExportLogsServiceRequest or ExportTraceServiceRequest. */
export function otlpJson(signal: 'logs' | 'traces', bytes: Uint8Array): string {
  return JSON.stringify(message(new Reader(bytes), signal === 'logs' ? LOGS_REQUEST : TRACES_REQUEST));
}
