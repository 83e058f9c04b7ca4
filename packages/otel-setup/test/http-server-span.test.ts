import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AggregationTemporality } from '@opentelemetry/sdk-metrics';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import { LocalHistograms, RequestTracker } from '@ccr/otel-processors';
import { HttpRequestTracking } from '../src/request-tracking';
import { attr, childEnv, runChild, startSink } from './helpers';
import * as path from 'node:path';

/** Request tracking's own HTTP server spans (in place of instrumentation-http's incoming side). */
describe('HTTP server spans', () => {
  let exporter: InMemorySpanExporter;
  let tracking: HttpRequestTracking;
  let tracker: RequestTracker;
  let provider: TracerProvider;
  let producer: MetricProducer;
  let server: http.Server;
  let port: number;
  /** What the handler saw: the active span in the handler and in its request's 'end' listener. */
  let seen: Array<{ inHandler: unknown; inEnd: unknown }>;

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    exporter = new InMemorySpanExporter();
    provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    tracker = new RequestTracker({ tracer: provider.getTracer('t') });
    const histograms = new LocalHistograms({ name: 'test' });
    producer = histograms.producer(AggregationTemporality.DELTA);
    const duration = histograms.histogram('http.server.request.duration', { unit: 's' });
    tracking = new HttpRequestTracking({ tracker, serverSpans: { tracer: provider.getTracer('http'), duration } });
    tracking.start();
    seen = [];
    server = http.createServer((req, res) => {
      const entry: { inHandler: unknown; inEnd: unknown } = { inHandler: trace.getActiveSpan(), inEnd: undefined };
      seen.push(entry);
      req.resume();
      // a listener added in the handler runs when the socket delivers the body: in the span's context still
      req.on('end', () => {
        entry.inEnd = trace.getActiveSpan();
        res.statusCode = Number(req.headers['x-status'] ?? 200);
        if (req.url === '/stop-while-open') tracking.stop();
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    tracking.stop();
    tracker.shutdown();
    await new Promise((r) => server.close(r));
    context.disable();
    propagation.disable();
  });

  beforeEach(() => {
    exporter.reset();
    seen.length = 0;
  });

  function send(path: string, headers: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'user-agent': 'ua/1', ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end('{}');
    });
  }

  async function finished(n: number) {
    for (let i = 0; i < 100 && exporter.getFinishedSpans().length < n; i++) await new Promise((r) => setTimeout(r, 10));
    return exporter.getFinishedSpans();
  }

  test('one SERVER span per request with the HTTP semconv attributes, active in the handler and in its listeners', async () => {
    expect(await send('/v1/messages?beta=true&token=abc123', { host: 'gw.example:8443', 'x-forwarded-for': '10.1.2.3:5555, 10.0.0.1' })).toBe(200);
    const spans = await finished(1);
    expect(spans).toHaveLength(1);
    const s = spans[0];
    expect(s.kind).toBe(1); // SpanKind.SERVER
    expect(s.name).toBe('POST');
    expect(s.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.scheme': 'http',
      'url.path': '/v1/messages',
      'http.route': '/v1/messages',
      'network.protocol.version': '1.1',
      'network.peer.address': '127.0.0.1',
      'server.address': 'gw.example',
      'server.port': 8443,
      'client.address': '10.1.2.3',
      'user_agent.original': 'ua/1',
      'http.response.status_code': 200,
    });
    // redacted by the parameter's name (the value has no secret's shape)
    expect(String(s.attributes['url.query'])).toMatch(/^beta=true&token=/);
    expect(String(s.attributes['url.query'])).not.toContain('abc123');
    expect(s.status.code).toBe(0);
    expect(s.events.map((e) => e.attributes?.['ccr.phase.name'])).toEqual(['ingress', 'response']);
    expect(seen[0].inHandler).toBeDefined();
    expect((seen[0].inHandler as { spanContext(): { spanId: string } }).spanContext().spanId).toBe(s.spanContext().spanId);
    expect((seen[0].inEnd as { spanContext(): { spanId: string } } | undefined)?.spanContext().spanId).toBe(s.spanContext().spanId);
  });

  test("the incoming traceparent is the span's parent", async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await send('/x', { traceparent: `00-${traceId}-b7ad6b7169203331-01` });
    const [s] = await finished(1);
    expect(s.spanContext().traceId).toBe(traceId);
    expect(s.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
  });

  test('a 5xx answer: status ERROR and error.type the status; a 4xx: error.type the status too (the request failed)', async () => {
    await send('/boom', { 'x-status': '503' });
    await send('/nope', { 'x-status': '404' });
    const spans = await finished(2);
    const byRoute = (r: string) => spans.find((s) => s.attributes['http.route'] === r)!;
    expect(byRoute('/boom').status.code).toBe(2);
    expect(byRoute('/boom').attributes['error.type']).toBe('503');
    expect(byRoute('/nope').attributes['http.response.status_code']).toBe(404);
    expect(byRoute('/nope').attributes['error.type']).toBe('404');
  });

  test('http.server.request.duration: one record per request, in seconds, by method and status', async () => {
    await producer.collect(); // delta: what earlier tests recorded goes
    await send('/a');
    await send('/b');
    await send('/c', { 'x-status': '500' });
    await finished(3);
    const { resourceMetrics } = await producer.collect();
    const points = resourceMetrics.scopeMetrics[0].metrics[0].dataPoints as Array<{ attributes: Record<string, unknown>; value: { count: number; max: number } }>;
    const ok = points.find((p) => p.attributes['http.response.status_code'] === 200)!;
    const failed = points.find((p) => p.attributes['http.response.status_code'] === 500)!;
    expect(ok.value.count).toBe(2);
    expect(ok.attributes).toEqual({ 'http.request.method': 'POST', 'url.scheme': 'http', 'http.response.status_code': 200, 'network.protocol.version': '1.1' });
    expect(failed.value.count).toBe(1);
    expect(failed.attributes['error.type']).toBe('500');
    expect(ok.value.max).toBeLessThan(0.5); // seconds (a loopback request takes a few ms)
  });

  test('a request the tracker leaves untracked (overload) still gets its status and error.type on its server span', async () => {
    const overloaded = new RequestTracker({ tracer: provider.getTracer('t'), load: () => 1, overloadSampleEvery: 1000 });
    tracking.stop();
    const shedding = new HttpRequestTracking({ tracker: overloaded, serverSpans: { tracer: provider.getTracer('http') } });
    shedding.start();
    try {
      await send('/one', { 'x-status': '502' });
      await send('/two', { 'x-status': '502' });
      const spans = await finished(2);
      expect(overloaded.stats().sampledOut).toBeGreaterThan(0);
      for (const s of spans) {
        expect(s.attributes['http.response.status_code']).toBe(502);
        expect(s.attributes['error.type']).toBe('502');
        expect(s.status.code).toBe(2);
      }
    } finally {
      shedding.stop();
      overloaded.shutdown();
      tracking.start();
    }
  });

  test('tracking stopped while a request is open: the request still ends as answered, not cancelled', async () => {
    try {
      expect(await send('/stop-while-open')).toBe(200);
      const [s] = await finished(1);
      expect(s.attributes['ccr.request.cancelled']).toBeUndefined();
      expect(s.attributes['http.response.status_code']).toBe(200);
    } finally {
      tracking.start();
    }
  });

  test('under the preload, a handler that throws ends its server span at once, failed, with the exception (the app survives it)', async () => {
    const sink = await startSink();
    try {
      let sent = false;
      const r = await runChild(['-r', '@ccr/otel-setup', path.join(__dirname, 'fixtures', 'handler-throws.js')], childEnv(sink, { CCR_OTEL_ADAPTIVE: 'false' }), {
        timeoutMs: 20000,
        onStdout: (out) => {
          const m = /listening (\d+)/.exec(out);
          if (!m || sent) return;
          sent = true;
          const req = http.request({ host: '127.0.0.1', port: Number(m[1]), method: 'POST', path: '/boom', agent: false });
          req.on('error', () => undefined); // the app closes the connection unanswered
          req.end('{}');
        },
      });
      expect(r.stdout).toContain('caught handler bug');
      const servers = sink.spans().filter((s) => s.kind === 2);
      expect(servers).toHaveLength(1);
      const s = servers[0];
      expect(s.status?.code).toBe(2);
      expect(attr(s.attributes, 'error.type')).toBe('TypeError');
      expect(s.events.some((e: { name: string }) => e.name === 'exception')).toBe(true);
    } finally {
      await sink.close();
    }
  });
});
