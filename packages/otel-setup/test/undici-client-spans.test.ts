import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality } from '@opentelemetry/sdk-metrics';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { LocalHistograms } from '@ccr/otel-processors';
import { UndiciClientSpans } from '../src/undici-client-spans';

/** Our undici client spans (in place of instrumentation-undici), against a real server over loopback. */
describe('UndiciClientSpans', () => {
  let exporter: InMemorySpanExporter;
  let provider: TracerProvider;
  let spans: UndiciClientSpans;
  let producer: MetricProducer;
  let server: http.Server;
  let base: string;
  /** The traceparent header each request arrived with. */
  const received: Array<string | undefined> = [];

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    exporter = new InMemorySpanExporter();
    provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const histograms = new LocalHistograms({ name: 'test' });
    producer = histograms.producer(AggregationTemporality.DELTA);
    spans = new UndiciClientSpans({ tracer: provider.getTracer('undici'), duration: histograms.histogram('http.client.request.duration', { unit: 's' }), ignoreHosts: ['127.0.0.1:1'] });
    spans.start();
    server = http.createServer((req, res) => {
      received.push(req.headers.traceparent as string | undefined);
      res.statusCode = req.url?.startsWith('/fail') ? 503 : 200;
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    spans.stop();
    await new Promise((r) => server.close(r));
    context.disable();
    propagation.disable();
  });

  beforeEach(() => {
    exporter.reset();
    received.length = 0;
  });

  test("a fetch inside a span: a CLIENT child span with the HTTP semconv attributes, and the upstream gets the client span's traceparent", async () => {
    const parent = provider.getTracer('app').startSpan('parent');
    const res = await context.with(trace.setSpan(context.active(), parent), () =>
      fetch(`${base}/v1/chat/completions?beta=1`, { method: 'POST', headers: { 'user-agent': 'gw/2' }, body: '{}' }),
    );
    await res.text();
    parent.end();
    const client = exporter.getFinishedSpans().find((s) => s.kind === 2)!;
    expect(client.name).toBe('POST');
    expect(client.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(client.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.full': `${base}/v1/chat/completions?beta=1`,
      'url.path': '/v1/chat/completions',
      'url.query': 'beta=1',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(base).port),
      'user_agent.original': 'gw/2',
      'network.peer.address': '127.0.0.1',
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
    });
    expect(client.status.code).toBe(0);
    const { traceId, spanId } = client.spanContext();
    expect(received).toEqual([`00-${traceId}-${spanId}-01`]);
  });

  test('a 5xx answer and a refused connection fail the span (error.type the status, the error code); http.client.request.duration has each', async () => {
    await producer.collect();
    await (await fetch(`${base}/fail`)).text();
    // a port nothing listens on: bind one, close it, call it
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await expect(fetch(`http://127.0.0.1:${deadPort}/x`)).rejects.toThrow();
    const clients = exporter.getFinishedSpans().filter((s) => s.kind === 2);
    expect(clients).toHaveLength(2);
    const failed = clients.find((s) => s.attributes['http.response.status_code'] === 503)!;
    expect(failed.attributes['error.type']).toBe('503');
    expect(failed.status.code).toBe(2);
    const refused = clients.find((s) => s !== failed)!;
    expect(refused.attributes['error.type']).toBe('ECONNREFUSED');
    expect(refused.status.code).toBe(2);
    expect(refused.events.some((e) => e.name === 'exception')).toBe(true);
    const { resourceMetrics } = await producer.collect();
    const points = resourceMetrics.scopeMetrics[0].metrics[0].dataPoints as Array<{ attributes: Record<string, unknown>; value: { count: number } }>;
    expect(points.map((p) => p.attributes['error.type']).sort()).toEqual(['503', 'ECONNREFUSED']);
    expect(points.find((p) => p.attributes['error.type'] === '503')!.attributes).toMatchObject({ 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'url.scheme': 'http', 'http.response.status_code': 503 });
  });

  test('no span for an ignored host (our own OTLP endpoint) or inside suppressed tracing', async () => {
    const { suppressTracing } = await import('@opentelemetry/core');
    await context.with(suppressTracing(context.active()), async () => (await fetch(`${base}/quiet`)).text());
    await expect(fetch('http://127.0.0.1:1/x')).rejects.toThrow();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(received).toEqual([undefined]);
  });
});
