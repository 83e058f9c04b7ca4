import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { RequestTracker } from '@ccr/otel-processors';
import { HttpRequestTracking } from '../src/request-tracking';

/** A symbol-keyed own property of `o` by the symbol's description (the module keeps its symbols private). */
function tagged(o: object, description: string): unknown {
  const k = Object.getOwnPropertySymbols(o).find((s) => s.description === description);
  return k === undefined ? undefined : (o as Record<symbol, unknown>)[k];
}

describe('HttpRequestTracking', () => {
  test("the request's span refers to the request's state while it is open and lets go of it at the end (the span outlives it in the export batch)", async () => {
    const exporter = new InMemorySpanExporter();
    // the request's span as it starts (node's objects carry nothing of ours: their state is in WeakMaps)
    const started: object[] = [];
    const onStart: SpanProcessor = { onStart: (s) => void started.push(s), onEnd: () => {}, forceFlush: async () => {}, shutdown: async () => {} };
    const tracer = new TracerProvider({ spanProcessors: [onStart, new SimpleSpanProcessor({ exporter })] }).getTracer('t');
    const tracker = new RequestTracker({ tracer });
    const tracking = new HttpRequestTracking({ tracker, serverSpans: false });
    tracking.start();
    let during: { state: unknown; onSpan: unknown } | undefined;
    let span: object | undefined;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        span = started[0];
        const state = tagged(span, 'ccr-otel.span-request') as { handle: { span: object } } | undefined;
        during = { state, onSpan: state?.handle.span };
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/x', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end('{}');
      });
      expect(status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
      expect(during?.state).toBeDefined();
      expect(during?.onSpan).toBe(span);
      const [finished] = exporter.getFinishedSpans();
      expect(finished).toBe(span);
      expect(tagged(span!, 'ccr-otel.span-request')).toBeUndefined();
      expect(finished.events.map((e) => e.attributes?.['ccr.phase.name'])).toEqual(['ingress', 'response']);
    } finally {
      tracking.stop();
      tracker.shutdown();
      await new Promise((r) => server.close(r));
    }
  });
});
