import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileRegistry, fromBinary, toJson, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/**
 * The official OTLP protos (logs and trace services), as compiled into
 * go.opentelemetry.io/proto/otlp: fixtures/otlp-descriptors/ has the program that
 * wrote them and the FileDescriptorSet. Decodes requests to their canonical proto3 JSON.
 */
const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, readFileSync(join(__dirname, 'fixtures', 'otlp-descriptors', 'otlp.binpb'))),
);
const logsRequest = registry.getMessage('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest')!;
const traceRequest = registry.getMessage('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest')!;

export function decodeOtlp(signal: 'logs' | 'traces', bytes: Uint8Array): JsonValue {
  const desc = signal === 'logs' ? logsRequest : traceRequest;
  return toJson(desc, fromBinary(desc, bytes));
}

/**
 * The proto3 JSON of a request in OTLP/JSON's form, but for ids: enums as integers. OTLP/JSON
 * writes trace and span ids as hex where proto3 JSON has base64: see {@link idsToBase64}.
 */
export function decodeOtlpJsonForm(signal: 'logs' | 'traces', bytes: Uint8Array): JsonValue {
  const desc = signal === 'logs' ? logsRequest : traceRequest;
  return JSON.parse(JSON.stringify(toJson(desc, fromBinary(desc, bytes), { enumAsInteger: true })));
}

/** An OTLP/JSON document with its hex ids turned into proto3 JSON's base64. */
export function idsToBase64(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(idsToBase64);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = (k === 'traceId' || k === 'spanId' || k === 'parentSpanId') && typeof x === 'string' ? Buffer.from(x, 'hex').toString('base64') : idsToBase64(x);
    return out;
  }
  return v;
}
