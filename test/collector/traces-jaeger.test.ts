/**
 * Traces through the real collector into the real Jaeger v2: sent with the OpenTelemetry SDK (OTLP/HTTP
 * protobuf, serialized by the SDK), found through Jaeger's query API with their span events, and present in the traces file.
 * Jaeger keeps them on disk (Badger): killed and restarted, it still has them. Then Jaeger goes down:
 * traces sent meanwhile wait in the file_storage queue (across a collector restart) and all arrive
 * once Jaeger is back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { context, trace, type Span } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  findTraceInJaeger,
  findTracesInJaeger,
  getJaegerTrace,
  normTraceId,
  readJsonLines,
  signalFiles,
  startCollector,
  startJaeger,
  type RunningCollector,
  type RunningJaeger,
} from '../helpers/collector';
import { FetchOtlpTraceExporter } from '../helpers/otlp-fetch-exporter';
import { spansOf } from '../helpers/otlp-json';

let jaeger: RunningJaeger | undefined;
let col: RunningCollector | undefined;
const providers: TracerProvider[] = [];

beforeAll(async () => {
  jaeger = await startJaeger();
  col = await startCollector({ jaegerOtlpEndpoint: jaeger.otlpGrpcEndpoint });
});

afterAll(async () => {
  await Promise.allSettled(providers.map((p) => p.shutdown()));
  await col?.stop();
  await jaeger?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
  if (jaeger) fs.rmSync(path.dirname(jaeger.outputFile), { recursive: true, force: true });
});

function tracerFor(service: string) {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [
      new BatchSpanProcessor({
        // OTLP/HTTP protobuf, serialized by the SDK's otlp-transformer (see the helper for why not OTLPTraceExporter)
        exporter: new FetchOtlpTraceExporter(`${col!.otlpHttpEndpoint}/v1/traces`),
        scheduledDelayMillis: 200,
      }),
    ],
  });
  providers.push(provider);
  return { provider, tracer: provider.getTracer('ccr-otel-tests') };
}

/** A request-like trace: a root span with phase events and one child span. Returns the hex trace id. */
function requestTrace(tracer: ReturnType<TracerProvider['getTracer']>, name: string, n: number): string {
  const root: Span = tracer.startSpan(name, { attributes: { 'test.n': n } });
  root.addEvent('phase.received', { 'phase.bytes': 123 });
  const child = tracer.startSpan('upstream.call', {}, trace.setSpan(context.active(), root));
  child.addEvent('phase.upstream_start');
  child.end();
  root.addEvent('phase.completed', { 'phase.status': 'ok' });
  root.end();
  return root.spanContext().traceId;
}

function eventNames(jaegerSpan: any): string[] {
  return (jaegerSpan.logs ?? []).map((l: any) => l.fields.find((f: any) => f.key === 'event')?.value).filter(Boolean);
}

function traceIdsInFile(dataDir: string): Set<string> {
  return new Set(spansOf(readJsonLines(signalFiles(dataDir, 'traces').all)).map((s) => s.traceId));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a trace with span events reaches Jaeger (events included) and the traces file', async () => {
  const service = `ccr-trace-${Date.now()}`;
  const { provider, tracer } = tracerFor(service);
  const traceId = requestTrace(tracer, 'POST /v1/messages', 1);
  await provider.forceFlush();

  const found = await findTraceInJaeger(jaeger!.queryUrl, service, {
    timeoutMs: 30000,
    predicate: (t) => normTraceId(t.traceID) === traceId,
  });
  expect(found.spans).toHaveLength(2);
  const root = found.spans.find((s: any) => s.operationName === 'POST /v1/messages');
  const child = found.spans.find((s: any) => s.operationName === 'upstream.call');
  expect(root).toBeDefined();
  expect(child).toBeDefined();
  expect(eventNames(root)).toEqual(['phase.received', 'phase.completed']);
  expect(eventNames(child)).toEqual(['phase.upstream_start']);
  const completed = root.logs.find((l: any) => l.fields.some((f: any) => f.value === 'phase.completed'));
  expect(completed.fields).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'phase.status', value: 'ok' })]));
  expect(child.references?.[0]).toMatchObject({ refType: 'CHILD_OF', spanID: root.spanID });
  expect(found.processes[root.processID].serviceName).toBe(service);

  // the same trace by id
  const byId = await getJaegerTrace(jaeger!.queryUrl, traceId);
  expect(byId?.spans).toHaveLength(2);

  // and in the traces file, one OTLP-JSON object per line, events included
  let spans: any[] = [];
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    spans = spansOf(readJsonLines(signalFiles(col!.dataDir, 'traces').all)).filter((s) => s.traceId === traceId);
    if (spans.length === 2) break;
    await sleep(200);
  }
  expect(spans).toHaveLength(2);
  const fileRoot = spans.find((s) => s.name === 'POST /v1/messages');
  expect(fileRoot.events.map((e: any) => e.name)).toEqual(['phase.received', 'phase.completed']);
});

test('Jaeger keeps its traces across a SIGKILL and a restart (Badger store)', async () => {
  const service = `ccr-persist-${Date.now()}`;
  const { provider, tracer } = tracerFor(service);
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(requestTrace(tracer, `persisted request ${i}`, i));
  await provider.forceFlush();
  await findTracesInJaeger(jaeger!.queryUrl, service, { timeoutMs: 30000, until: (ts) => ids.every((id) => ts.some((t) => normTraceId(t.traceID) === id)) });

  await jaeger!.kill();
  await jaeger!.start();
  const traces = await findTracesInJaeger(jaeger!.queryUrl, service, { timeoutMs: 15000, until: (ts) => ts.length >= ids.length });
  const got = new Set(traces.map((t) => normTraceId(t.traceID)));
  expect(ids.filter((id) => !got.has(id))).toEqual([]);
  for (const t of traces) expect(t.spans).toHaveLength(2);
});

test('traces sent while Jaeger is down arrive after it is back (file_storage queue, survives a collector restart)', async () => {
  const service = `ccr-outage-${Date.now()}`;
  await jaeger!.stop();

  const { provider, tracer } = tracerFor(service);
  const ids: string[] = [];
  for (let i = 0; i < 25; i++) ids.push(requestTrace(tracer, `outage request ${i}`, i));
  await provider.forceFlush();

  // The collector accepted them: they are in the traces file...
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const inFile = traceIdsInFile(col!.dataDir);
    if (ids.every((id) => inFile.has(id))) break;
    await sleep(200);
  }
  const inFile = traceIdsInFile(col!.dataDir);
  expect(ids.filter((id) => !inFile.has(id))).toEqual([]);
  // ...and the Jaeger exporter has tried and failed at least once (the batch is now in the queue).
  await sleep(2500);

  // The queue lives on disk: restart the collector while Jaeger is still down.
  const oldPid = col!.pid;
  await col!.restart();
  expect(col!.pid).not.toBe(oldPid);
  expect((await fetch(col!.healthUrl)).status).toBe(200);
  await sleep(1000);

  await jaeger!.start(); // same ports, same Badger store
  const traces = await findTracesInJaeger(jaeger!.queryUrl, service, {
    timeoutMs: 60000,
    until: (ts) => ids.every((id) => ts.some((t) => normTraceId(t.traceID) === id)),
  });
  const got = new Set(traces.map((t) => normTraceId(t.traceID)));
  expect(ids.filter((id) => !got.has(id))).toEqual([]);
  for (const t of traces.filter((x) => ids.includes(normTraceId(x.traceID)))) expect(t.spans).toHaveLength(2);
});
