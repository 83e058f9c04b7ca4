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
