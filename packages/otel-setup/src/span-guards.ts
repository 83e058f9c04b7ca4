import { diag, INVALID_SPAN_CONTEXT, trace } from '@opentelemetry/api';
import type { Span, SpanOptions } from '@opentelemetry/api';
import { AlwaysOnSampler, TracerProvider } from '@opentelemetry/sdk-trace';

/**
 * The SDK's Span and Tracer methods that read what the application gives them: a value whose getter
 * throws, a Proxy, a time that is not one, an exception whose `message` throws... makes them throw
 * into the application (the API's contract is that telemetry never does). Each is wrapped once, on
 * the SDK's classes, by {@link guardSpanMethods}.
 */
const CHAINABLE = ['setAttribute', 'setAttributes', 'addEvent', 'addLink', 'addLinks', 'setStatus'] as const;

type Method = (this: unknown, a?: unknown, b?: unknown, c?: unknown) => unknown;

/** What puts the SDK's methods back; undefined while the guards are not installed. */
let installed: Array<() => void> | undefined;
/** Where refused calls are counted: the latest guardSpanMethods caller's. */
let countRefused: () => void = () => undefined;

/**
 * Wraps the SDK's Span methods (setAttribute, setAttributes, addEvent, addLink(s), recordException,
 * setStatus, updateName, end) and Tracer.startSpan in a try/catch, once per process: a call that
 * throws on its arguments is ignored (the span stays as it was, a chainable method still returns the
 * span) and counted through `onRefused`. A span name that is not a string (a symbol, a number) becomes
 * one, before the redacting processor reads it as text. end() that throws still ends the span (now); startSpan()
 * that throws starts it again without the attributes and links it was given, else returns a
 * non-recording span. A call costs one more function call and a try block (see README: Limits).
 * Returns a function that puts the SDK's methods back.
 */
export function guardSpanMethods(onRefused: () => void): () => void {
  countRefused = onRefused;
  if (installed) return uninstall;
  // the classes are not exported: a throwaway provider (no processors) hands out one of each
  const tracer = new TracerProvider({ sampler: new AlwaysOnSampler() }).getTracer('@ccr/otel-setup/span-guards');
  const span = tracer.startSpan('probe');
  const spanProto = Object.getPrototypeOf(span) as Record<string, Method>;
  const tracerProto = Object.getPrototypeOf(tracer) as Record<string, Method>;
  const restore: Array<() => void> = [];
  const wrap = (proto: Record<string, Method>, name: string, make: (orig: Method) => Method) => {
    const orig = proto[name];
    if (typeof orig !== 'function') return;
    proto[name] = make(orig);
    restore.push(() => (proto[name] = orig));
  };
  for (const name of CHAINABLE) {
    wrap(spanProto, name, (orig) =>
      // fixed arity: no arguments object or rest array per call
      function guarded(this: unknown, a?: unknown, b?: unknown, c?: unknown) {
        try {
          return orig.call(this, a, b, c);
        } catch (err) {
          refused(name, err);
          return this;
        }
      },
    );
  }
  // a name that is not a string (a symbol, a number) becomes one: every processor after this reads it as text
  wrap(spanProto, 'updateName', (orig) =>
    function guarded(this: unknown, a?: unknown) {
      try {
        return orig.call(this, typeof a === 'string' ? a : String(a));
      } catch (err) {
        refused('updateName', err);
        return this;
      }
    },
  );
  wrap(spanProto, 'recordException', (orig) =>
    function guarded(this: unknown, a?: unknown, b?: unknown) {
      try {
        orig.call(this, a, b);
      } catch (err) {
        refused('recordException', err);
      }
    },
  );
  wrap(spanProto, 'end', (orig) =>
    function guarded(this: unknown, a?: unknown) {
      try {
        orig.call(this, a);
      } catch (err) {
        refused('end', err);
        // an end time that cannot be read: the span ends now rather than never
        try {
          if ((this as Span).isRecording()) orig.call(this);
        } catch {
          /* a processor threw: nothing more to do */
        }
      }
    },
  );
  wrap(tracerProto, 'startSpan', (orig) =>
    function guarded(this: unknown, a?: unknown, b?: unknown, c?: unknown) {
      try {
        return orig.call(this, typeof a === 'string' ? a : String(a), b, c);
      } catch (err) {
        refused('startSpan', err);
        try {
          const o = (b ?? {}) as SpanOptions;
          return orig.call(this, String(a), { kind: o.kind, root: o.root, startTime: o.startTime }, c);
        } catch {
          return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
        }
      }
    },
  );
  installed = restore;
  return uninstall;
}

function uninstall(): void {
  if (!installed) return;
  for (const r of installed) r();
  installed = undefined;
  countRefused = () => undefined;
}

function refused(method: string, err: unknown): void {
  try {
    countRefused();
    diag.debug(`span.${method}: arguments could not be read; call ignored`, err);
  } catch {
    /* never into the application */
  }
}
