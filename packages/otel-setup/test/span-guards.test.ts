import { ROOT_CONTEXT, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { BatchingSpanProcessor } from '@ccr/otel-processors';
import { guardSpanMethods } from '../src/span-guards';

const throwing = () => {
  const o = { fine: 1 };
  Object.defineProperty(o, 'boom', { enumerable: true, get: () => { throw new Error('getter'); } });
  return o;
};
/** A Proxy whose every read throws (and whose keys cannot even be listed). */
const poisoned = () =>
  new Proxy([], {
    get() { throw new Error('get trap'); },
    ownKeys() { throw new Error('ownKeys trap'); },
    getOwnPropertyDescriptor() { throw new Error('descriptor trap'); },
  });

/** Each call throws from the SDK's own code when the methods are not guarded. */
const HOSTILE_CALLS: Array<[string, (s: Span) => unknown]> = [
  ['setAttribute(proxy)', (s) => s.setAttribute('p', poisoned() as never)],
  ['setAttributes(getter)', (s) => s.setAttributes(throwing() as never)],
  ['setAttributes(proxy)', (s) => s.setAttributes(poisoned() as never)],
  ['addEvent(getter)', (s) => s.addEvent('e', throwing() as never)],
  ['addLink(getter context)', (s) => s.addLink({ get context(): never { throw new Error('context'); } })],
  ['addLinks(not iterable)', (s) => s.addLinks(42 as never)],
  ['recordException(getter)', (s) => s.recordException({ get message(): string { throw new Error('message'); } } as never)],
  ['setStatus(null)', (s) => s.setStatus(null as never)],
];

function setup() {
  const exporter = new InMemorySpanExporter();
  const processor = new BatchingSpanProcessor({ env: {}, exporter });
  const provider = new TracerProvider({ spanProcessors: [processor] });
  return { exporter, processor, provider, tracer: provider.getTracer('t') };
}

describe('span guards', () => {
  it('without them, the SDK throws into the caller (what the guards are for)', async () => {
    const { provider, tracer } = setup();
    for (const [name, call] of HOSTILE_CALLS) {
      const span = tracer.startSpan('bare');
      expect(() => call(span)).toThrow();
      span.end();
      void name;
    }
    expect(() => tracer.startSpan('x', { attributes: throwing() as never })).toThrow();
    await provider.shutdown();
  });

  it('with them: every hostile call is ignored and counted, the span keeps what it had and is exported', async () => {
    const { exporter, processor, provider, tracer } = setup();
    const unguard = guardSpanMethods(() => processor.countUnreadableCall());
    try {
      const span = tracer.startSpan('guarded');
      span.setAttribute('before', 1);
      for (const [name, call] of HOSTILE_CALLS) {
        let result: unknown;
        expect(() => (result = call(span))).not.toThrow();
        // a chainable method still returns the span
        if (!name.startsWith('recordException')) expect(result).toBe(span);
      }
      expect(span.setAttribute('after', 2).setStatus({ code: SpanStatusCode.ERROR, message: 'm' })).toBe(span);
      span.updateName(Symbol('odd') as never);
      // an end time that cannot be read: the span ends now
      expect(() => span.end(poisoned() as never)).not.toThrow();
      expect(span.isRecording()).toBe(false);
      // startSpan with attributes it cannot read: started again without them
      const second = tracer.startSpan('second', { attributes: throwing() as never });
      expect(second.isRecording()).toBe(true);
      second.end();
      await processor.forceFlush();
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name)).toEqual(['Symbol(odd)', 'second']); // a symbol name becomes text
      // setAttributes keeps what it read before the getter threw
      expect(spans[0].attributes).toEqual({ before: 1, fine: 1, after: 2 });
      expect(spans[0].status).toEqual({ code: SpanStatusCode.ERROR, message: 'm' });
      expect(processor.stats().unreadableCalls).toBe(HOSTILE_CALLS.length + 2); // + end + startSpan
      expect(processor.stats().exported).toBe(2);
    } finally {
      unguard();
    }
    // put back: the SDK's own methods again
    expect(() => tracer.startSpan('x').setAttributes(throwing() as never)).toThrow();
    await provider.shutdown();
  });

  it('installs once: a second call only moves the counting', async () => {
    const { processor, provider, tracer } = setup();
    let first = 0;
    guardSpanMethods(() => first++);
    const unguard = guardSpanMethods(() => processor.countUnreadableCall());
    const span = tracer.startSpan('s', {}, ROOT_CONTEXT);
    span.setAttributes(throwing() as never);
    expect(first).toBe(0);
    expect(processor.stats().unreadableCalls).toBe(1);
    unguard();
    span.end();
    expect(trace.getSpan(trace.setSpan(ROOT_CONTEXT, span))).toBe(span);
    await provider.shutdown();
  });
});
