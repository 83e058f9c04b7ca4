import fc from 'fast-check';
import type { AnyValue, HrTime } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/** Strings: empty, ASCII, multi-byte, astral, lone surrogates, NUL, and long ones. */
export const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('a', 'é', '日', '😀', '\ud800', '\udfff', '\u0000', '"', '\\'), maxLength: 20 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 100, maxLength: 300 }),
  fc.constant(''),
);

const bigInt = fc.oneof(
  fc.integer({ min: 2 ** 53, max: 2 ** 62 }).map((x) => x * 2), // integral doubles beyond 2^53
  fc.double({ min: 2 ** 53, max: 2 ** 63 - 2 ** 11, noNaN: true }).map(Math.floor),
  fc.double({ min: -(2 ** 63), max: -(2 ** 53), noNaN: true }).map(Math.ceil),
  fc.constantFrom(2 ** 63, -(2 ** 63), Number.MAX_SAFE_INTEGER + 1, -(2 ** 31), 2 ** 32),
);

const scalar: fc.Arbitrary<AnyValue> = fc.oneof(
  anyString,
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  bigInt,
  fc.double(), // NaN, ±Infinity, -0 included
  fc.uint8Array({ maxLength: 16 }),
  fc.constant(null),
  fc.constant(undefined),
);

const { value: anyValue } = fc.letrec<{ value: AnyValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyString, tie('value'), { maxKeys: 4 }),
  ),
}));
export { anyValue };

/** Attribute values as the SDK keeps them: primitives and homogeneous arrays, plus nested maps (log attributes allow AnyValue). */
export const attributes = fc.dictionary(anyString, anyValue, { maxKeys: 5 });

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
export const hrTime: fc.Arbitrary<HrTime> = fc.tuple(fc.integer({ min: 0, max: 2 ** 33 }), fc.integer({ min: 0, max: 999_999_999 }));
const traceFlags = fc.integer({ min: 0, max: 255 });
const spanContext = fc.record({ traceId: hex(32), spanId: hex(16), traceFlags });
const fakeTraceState = fc.option(fc.constantFrom('a=1', 'vendor=x,other=y', 'k=v'), { nil: undefined }).map((s) =>
  s === undefined ? undefined : { serialize: () => s, get: () => undefined, set() { return this; }, unset() { return this; } },
);

/** Several resources and scopes, shared by the records of one batch (the encoder groups them by identity). */
export function resourcesAndScopes() {
  return fc.tuple(
    fc.array(
      fc.record({ attrs: attributes, schemaUrl: fc.option(anyString, { nil: undefined }) }).map(({ attrs, schemaUrl }) =>
        resourceFromAttributes(attrs as never, schemaUrl === undefined ? undefined : { schemaUrl }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    fc.array(
      fc.record(
        {
          name: anyString,
          version: anyString,
          schemaUrl: anyString,
          attributes,
          droppedAttributesCount: fc.nat(1000),
        },
        { requiredKeys: ['name'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  );
}

export function logRecord(resources: Resource[], scopes: object[]): fc.Arbitrary<ReadableLogRecord> {
  return fc
    .record({
      hrTime,
      hrTimeObserved: hrTime,
      severityNumber: fc.option(fc.integer({ min: 0, max: 24 }), { nil: undefined }),
      severityText: fc.option(anyString, { nil: undefined }),
      body: fc.option(anyValue, { nil: undefined }),
      attributes,
      droppedAttributesCount: fc.nat(),
      spanContext: fc.option(spanContext, { nil: undefined }),
      eventName: fc.option(anyString, { nil: undefined }),
      r: fc.nat(resources.length - 1),
      s: fc.nat(scopes.length - 1),
    })
    .map(({ r, s, ...rec }) => ({ ...rec, resource: resources[r], instrumentationScope: scopes[s] }) as unknown as ReadableLogRecord);
}

const spanAttributes = fc.dictionary(
  anyString,
  fc.oneof(anyString, fc.boolean(), fc.integer(), bigInt, fc.double(), fc.array(anyString, { maxLength: 3 }), fc.array(fc.double(), { maxLength: 3 })),
  { maxKeys: 5 },
);

export function span(resources: Resource[], scopes: object[]): fc.Arbitrary<ReadableSpan> {
  return fc
    .record({
      ctx: spanContext,
      traceState: fakeTraceState,
      isRemote: fc.option(fc.boolean(), { nil: undefined }),
      parent: fc.option(fc.record({ traceId: hex(32), spanId: hex(16), traceFlags, isRemote: fc.option(fc.boolean(), { nil: undefined }) }), { nil: undefined }),
      name: anyString,
      kind: fc.integer({ min: 0, max: 4 }),
      startTime: hrTime,
      endTime: hrTime,
      status: fc.record({ code: fc.integer({ min: 0, max: 2 }), message: fc.option(anyString, { nil: undefined }) }),
      attributes: spanAttributes,
      events: fc.array(
        fc.record({ name: anyString, time: hrTime, attributes: fc.option(spanAttributes, { nil: undefined }), droppedAttributesCount: fc.option(fc.nat(), { nil: undefined }) }),
        { maxLength: 3 },
      ),
      links: fc.array(
        fc.record({
          context: fc.record({ traceId: hex(32), spanId: hex(16), traceFlags, isRemote: fc.option(fc.boolean(), { nil: undefined }), traceState: fakeTraceState }),
          attributes: fc.option(spanAttributes, { nil: undefined }),
          droppedAttributesCount: fc.option(fc.nat(), { nil: undefined }),
        }),
        { maxLength: 3 },
      ),
      droppedAttributesCount: fc.nat(),
      droppedEventsCount: fc.nat(),
      droppedLinksCount: fc.nat(),
      r: fc.nat(resources.length - 1),
      s: fc.nat(scopes.length - 1),
    })
    .map(({ ctx, traceState, isRemote, parent, r, s, ...rest }) => {
      const sc = { ...ctx, traceState, isRemote };
      return {
        ...rest,
        spanContext: () => sc,
        parentSpanContext: parent,
        duration: [0, 0],
        ended: true,
        resource: resources[r],
        instrumentationScope: scopes[s],
      } as unknown as ReadableSpan;
    });
}
