import fc from 'fast-check';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { decodeLogRecords, decodeSpans, encodeLogRecord, encodeSpan, otlpJson, ProtoWriter, RecordStore } from '../src';
import { logRecord, resourcesAndScopes, span } from './arbitraries';
import { decodeOtlp, decodeOtlpJsonForm, idsToBase64 } from './otlp';

/** Our bytes for `records`: each encoded and queued (in random classes), then taken as one batch. */
function viaStore<T extends ReadableLogRecord | ReadableSpan>(records: T[], classes: number[], encode: (w: ProtoWriter, r: T) => void) {
  const store = new RecordStore(3);
  const w = new ProtoWriter(8); // tiny: every growth path is exercised
  records.forEach((r, i) => {
    w.reset();
    encode(w, r);
    store.push(w.buf, w.pos, classes[i % classes.length], r.resource, r.instrumentationScope);
  });
  const batch = store.take(records.length)!;
  expect(batch.count).toBe(records.length);
  expect(store.length).toBe(0);
  expect(store.bytes).toBe(0);
  return batch;
}

// FIDELITY_SEED / FIDELITY_PATH replay a failure that fast-check reported
/**
 * A value as it reads back from UTF-8: lone surrogates replaced (String#toWellFormed, as
 * TextEncoder does). Two map keys that differ only by lone surrogates become one key, the later
 * value winning at the earlier position, as in a JS object decoded from such a map: what the
 * SDK-exporter path (decodeLogRecords/decodeSpans) can represent. The bytes themselves keep both.
 */
function wellFormed<T>(v: T): T {
  if (Array.isArray(v)) return v.map(wellFormed) as T;
  if (v && typeof v === 'object' && !(v instanceof Uint8Array))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [(k as string & { toWellFormed(): string }).toWellFormed(), wellFormed(x)])) as T;
  return v;
}

function wellFormedSpan(s: ReadableSpan): ReadableSpan {
  return {
    ...s,
    attributes: wellFormed(s.attributes),
    events: s.events.map((e) => ({ ...e, attributes: e.attributes && wellFormed(e.attributes) })),
    links: s.links.map((l) => ({ ...l, attributes: l.attributes && wellFormed(l.attributes) })),
  } as ReadableSpan;
}

// Locally every run draws new cases (a failure prints the seed to replay). Under CI the cases are
// the same every run (a fixed seed, 200 of them): a landing must not depend on the draw.
const seed = process.env.FIDELITY_SEED ? Number(process.env.FIDELITY_SEED) : process.env.CI ? 20261130 : undefined;
const runs = {
  numRuns: Number(process.env.FIDELITY_RUNS ?? (process.env.CI ? 200 : 100)),
  endOnFailure: !!process.env.FIDELITY_NO_SHRINK,
  ...(seed !== undefined ? { seed, path: process.env.FIDELITY_PATH } : {}),
};

describe('the OTLP encoder, against the SDK serializer, decoded with the official protos', () => {
  it('log records: every field, several resources and scopes per batch', () => {
    fc.assert(
      fc.property(
        resourcesAndScopes().chain(([resources, scopes]) =>
          fc.tuple(fc.array(logRecord(resources, scopes), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(2), { minLength: 1, maxLength: 5 })),
        ),
        ([records, classes]) => {
          const sdk = decodeOtlp('logs', ProtobufLogsSerializer.serializeRequest(records)!);
          const batch = viaStore(records, classes, encodeLogRecord);
          expect(decodeOtlp('logs', batch.bytes)).toEqual(sdk);
          // the path for SDK exporters: records decoded from our bytes serialize to the same request
          // (up to map keys that only lone surrogates told apart: see wellFormed)
          expect(decodeOtlp('logs', ProtobufLogsSerializer.serializeRequest(decodeLogRecords(batch))!)).toEqual(
            decodeOtlp('logs', ProtobufLogsSerializer.serializeRequest(records.map((r) => ({ ...r, body: wellFormed(r.body), attributes: wellFormed(r.attributes) }) as ReadableLogRecord))!),
          );
          // http/json: the same message in OTLP/JSON (hex ids, int64 as strings, enums as integers)
          expect(idsToBase64(JSON.parse(otlpJson('logs', batch.bytes)))).toEqual(decodeOtlpJsonForm('logs', batch.bytes));
        },
      ),
      runs,
    );
  });

  it('spans: every field, events, links, status, several resources and scopes per batch', () => {
    fc.assert(
      fc.property(
        resourcesAndScopes().chain(([resources, scopes]) =>
          fc.tuple(fc.array(span(resources, scopes), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(2), { minLength: 1, maxLength: 5 })),
        ),
        ([spans, classes]) => {
          const sdk = decodeOtlp('traces', ProtobufTraceSerializer.serializeRequest(spans)!);
          const batch = viaStore(spans, classes, encodeSpan);
          expect(decodeOtlp('traces', batch.bytes)).toEqual(sdk);
          expect(decodeOtlp('traces', ProtobufTraceSerializer.serializeRequest(decodeSpans(batch))!)).toEqual(
            decodeOtlp('traces', ProtobufTraceSerializer.serializeRequest(spans.map(wellFormedSpan))!),
          );
          expect(idsToBase64(JSON.parse(otlpJson('traces', batch.bytes)))).toEqual(decodeOtlpJsonForm('traces', batch.bytes));
        },
      ),
      runs,
    );
  });

  it('a record larger than a slab, and a batch whose lengths need several varint bytes', () => {
    const [resources, scopes] = fc.sample(resourcesAndScopes(), { numRuns: 1, seed: 1 })[0];
    const big = { ...fc.sample(logRecord(resources, scopes), { numRuns: 1, seed: 2 })[0], body: 'x'.repeat(200_000) + '日本' } as ReadableLogRecord;
    const records = [big, ...fc.sample(logRecord(resources, scopes), { numRuns: 300, seed: 3 })];
    const sdk = decodeOtlp('logs', ProtobufLogsSerializer.serializeRequest(records)!);
    expect(decodeOtlp('logs', viaStore(records, [0, 1, 2], encodeLogRecord).bytes)).toEqual(sdk);
  });
});
