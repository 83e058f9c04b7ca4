/**
 * The real ccr-otelcol accepts what our encoder writes and stores exactly what it stores for the
 * SDK's own serializer: the same random log records and spans (every field, several resources and
 * scopes) are sent twice over OTLP/HTTP protobuf, once as the SDK serializes them and once as our
 * processors' store assembles them, each copy tagged by a resource attribute; the file exporter's
 * JSON of the two copies must be the same, record for record.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { encodeLogRecord, encodeSpan, ProtoWriter, RecordStore } from '@ccr/otel-processors';
import { logRecord, resourcesAndScopes, span } from '../../packages/processors/test/arbitraries';
import { readJsonLines, signalFiles, startCollector, type RunningCollector } from '../helpers/collector';

let col: RunningCollector | undefined;

beforeAll(async () => {
  col = await startCollector();
});

afterAll(async () => {
  await col?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
});

const VARIANT = 'fidelity.variant';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The same resources with one more attribute that says which copy a record belongs to. */
function tagged(resources: Resource[], variant: string): Map<Resource, Resource> {
  return new Map(resources.map((r) => [r, resourceFromAttributes({ ...r.attributes, [VARIANT]: variant }, r.schemaUrl ? { schemaUrl: r.schemaUrl } : undefined)]));
}

function ours<T extends ReadableLogRecord | ReadableSpan>(records: T[], encode: (w: ProtoWriter, r: T) => void): Uint8Array {
  const store = new RecordStore(2);
  const w = new ProtoWriter();
  records.forEach((r, i) => {
    w.reset();
    encode(w, r);
    store.push(w.buf, w.pos, i % 2, r.resource, r.instrumentationScope);
  });
  return store.take(records.length)!.bytes;
}

async function post(signal: 'logs' | 'traces', body: Uint8Array): Promise<void> {
  const res = await fetch(`${col!.otlpHttpEndpoint}/v1/${signal}`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST /v1/${signal} -> ${res.status}: ${text.slice(0, 300)}`);
}

/** Every stored record of one copy, with its resource (less the tag) and scope, as sorted JSON strings. */
function stored(signal: 'logs' | 'traces', variant: string): string[] {
  const out: string[] = [];
  const [rKey, sKey, recKey] = signal === 'logs' ? ['resourceLogs', 'scopeLogs', 'logRecords'] : ['resourceSpans', 'scopeSpans', 'spans'];
  for (const req of readJsonLines(signalFiles(col!.dataDir, signal).all))
    for (const rl of req[rKey] ?? []) {
      const attrs = rl.resource?.attributes ?? [];
      const tag = attrs.find((a: { key: string }) => a.key === VARIANT);
      if (tag?.value?.stringValue !== variant) continue;
      const resource = { ...rl.resource, attributes: attrs.filter((a: { key: string }) => a.key !== VARIANT) };
      for (const sl of rl[sKey] ?? [])
        for (const rec of sl[recKey] ?? []) out.push(JSON.stringify({ resource, resourceSchemaUrl: rl.schemaUrl, scope: sl.scope, scopeSchemaUrl: sl.schemaUrl, rec }));
    }
  return out.sort();
}

async function compare<T extends ReadableLogRecord | ReadableSpan>(
  signal: 'logs' | 'traces',
  records: T[],
  resources: Resource[],
  serialize: (r: T[]) => Uint8Array,
  encode: (w: ProtoWriter, r: T) => void,
): Promise<void> {
  const run = `${signal}-${Date.now()}`;
  const sdkRes = tagged(resources, `${run}-sdk`);
  const ourRes = tagged(resources, `${run}-ours`);
  await post(signal, serialize(records.map((r) => Object.assign(Object.create(Object.getPrototypeOf(r)), r, { resource: sdkRes.get(r.resource) }))));
  await post(signal, ours(records.map((r) => Object.assign(Object.create(Object.getPrototypeOf(r)), r, { resource: ourRes.get(r.resource) })), encode));
  const deadline = Date.now() + 20_000;
  let a: string[] = [];
  let b: string[] = [];
  while (Date.now() < deadline) {
    a = stored(signal, `${run}-sdk`);
    b = stored(signal, `${run}-ours`);
    if (a.length === records.length && b.length === records.length) break;
    await sleep(200);
  }
  expect(a).toHaveLength(records.length);
  expect(b).toEqual(a);
}

test('log records: the collector stores the same JSON for our bytes as for the SDK serializer', async () => {
  for (const seed of [1, 2, 3]) {
    const [resources, scopes] = fc.sample(resourcesAndScopes(), { numRuns: 1, seed })[0];
    const records = fc.sample(logRecord(resources, scopes), { numRuns: 200, seed });
    await compare('logs', records, resources, (r) => ProtobufLogsSerializer.serializeRequest(r)!, encodeLogRecord);
  }
});

test('spans: the collector stores the same JSON for our bytes as for the SDK serializer', async () => {
  for (const seed of [1, 2, 3]) {
    const [resources, scopes] = fc.sample(resourcesAndScopes(), { numRuns: 1, seed })[0];
    const spans = fc.sample(span(resources, scopes), { numRuns: 200, seed });
    await compare('traces', spans, resources, (s) => ProtobufTraceSerializer.serializeRequest(s)!, encodeSpan);
  }
});
