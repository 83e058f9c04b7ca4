import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { diag, SeverityNumber } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchingLogRecordProcessor, BatchingSpanProcessor, InvalidOptionError, OtlpHttpExporter, resolveOtlpHttpOptions } from '../src';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { loggerFor } from './helpers';
import { decodeOtlp } from './otlp';

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

let server: Server;
let url: string;
const received: Received[] = [];
let status = 200;
let hang = false;
let retryAfter: string | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      if (hang) return;
      res.statusCode = status;
      if (retryAfter !== undefined) res.setHeader('retry-after', retryAfter);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  received.length = 0;
  status = 200;
  hang = false;
  retryAfter = undefined;
});

const exportOnce = (e: OtlpHttpExporter, bytes: Uint8Array) =>
  new Promise<ExportResult>((resolve) => e.export({ bytes, count: 1, minSeq: 0, minClass: 0, maxClass: 0, scopes: [] }, resolve));

describe('resolveOtlpHttpOptions', () => {
  it('takes the signal endpoint as it is, else the base endpoint plus /v1/<signal>, else localhost:4318', () => {
    expect(resolveOtlpHttpOptions('logs', { env: { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://a:1/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:2' } }).url).toBe('http://a:1/custom');
    expect(resolveOtlpHttpOptions('traces', { env: { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://a:1/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:2/' } }).url).toBe('http://b:2/v1/traces');
    expect(resolveOtlpHttpOptions('logs', { env: {} })).toEqual({ url: 'http://localhost:4318/v1/logs', headers: {}, timeoutMillis: 10000, compression: 'none', protocol: 'http/protobuf' });
  });

  it('merges headers (the signal wins), decodes values, and reads timeout, compression and protocol', () => {
    const o = resolveOtlpHttpOptions('logs', {
      env: {
        OTEL_EXPORTER_OTLP_HEADERS: 'a=1, b=two%20words',
        OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'a=3',
        OTEL_EXPORTER_OTLP_TIMEOUT: '500',
        OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'gzip',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    });
    expect(o).toMatchObject({ headers: { a: '3', b: 'two words' }, timeoutMillis: 500, compression: 'gzip', protocol: 'http/json' });
  });

  it('refuses a wrong explicit option, naming it; a wrong variable is reported and its default used', () => {
    expect(() => resolveOtlpHttpOptions('logs', { protocol: 'grpc' as never })).toThrow(InvalidOptionError);
    expect(() => resolveOtlpHttpOptions('logs', { compression: 'br' as never })).toThrow(/compression/);
    expect(() => resolveOtlpHttpOptions('logs', { timeoutMillis: 3e9 })).toThrow(/timeout/);
    expect(() => resolveOtlpHttpOptions('logs', { url: 'ftp://x' })).toThrow(/http\(s\) URL/);
    const warnings: string[] = [];
    const spy = jest.spyOn(diag, 'warn').mockImplementation((m: string) => void warnings.push(m));
    try {
      const o = resolveOtlpHttpOptions('logs', {
        env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_COMPRESSION: 'br', OTEL_EXPORTER_OTLP_TIMEOUT: 'soon', OTEL_EXPORTER_OTLP_HEADERS: 'novalue,a=b' },
      });
      expect(o).toMatchObject({ protocol: 'http/protobuf', compression: 'none', timeoutMillis: 10000, headers: { a: 'b' } });
      expect(warnings.join('\n')).toMatch(/PROTOCOL must be http\/protobuf or http\/json .*got "grpc"/);
      expect(warnings.join('\n')).toMatch(/COMPRESSION must be gzip or none, got "br"; using "none"/);
      expect(warnings.join('\n')).toMatch(/TIMEOUT must be a positive number of ms, got "soon"; using 10000/);
      expect(warnings.join('\n')).toMatch(/OTEL_EXPORTER_OTLP_HEADERS: expected key=value, got "novalue"/);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('OtlpHttpExporter', () => {
  it('posts the bytes as they are, with the headers and the protobuf content type', async () => {
    const e = new OtlpHttpExporter('logs', { url: `${url}/v1/logs`, headers: { 'x-api-key': 'k' }, env: {} });
    const bytes = new Uint8Array([10, 0, 1, 2, 3]);
    expect(await exportOnce(e, bytes)).toEqual({ code: ExportResultCode.SUCCESS });
    expect(received).toHaveLength(1);
    expect(received[0].url).toBe('/v1/logs');
    expect(received[0].headers).toMatchObject({ 'content-type': 'application/x-protobuf', 'x-api-key': 'k' });
    expect([...received[0].body]).toEqual([...bytes]);
    await e.shutdown();
  });

  it('gzip: compressed off the event loop, content-encoding set, same bytes inside', async () => {
    const e = new OtlpHttpExporter('traces', { url: `${url}/v1/traces`, compression: 'gzip', env: {} });
    const bytes = new Uint8Array(5000).map((_, i) => i % 7);
    expect((await exportOnce(e, bytes)).code).toBe(ExportResultCode.SUCCESS);
    expect(received[0].headers['content-encoding']).toBe('gzip');
    expect([...gunzipSync(received[0].body)]).toEqual([...bytes]);
    await e.shutdown();
  });

  it('fails on a non-2xx answer, a refused connection and a timeout', async () => {
    status = 503;
    const e = new OtlpHttpExporter('logs', { url: `${url}/v1/logs`, env: {} });
    const r = await exportOnce(e, new Uint8Array([1]));
    expect(r.code).toBe(ExportResultCode.FAILED);
    expect(String(r.error)).toMatch(/HTTP 503/);
    const refused = new OtlpHttpExporter('logs', { url: 'http://127.0.0.1:9/v1/logs', env: {} });
    expect((await exportOnce(refused, new Uint8Array([1]))).code).toBe(ExportResultCode.FAILED);
    hang = true;
    const slow = new OtlpHttpExporter('logs', { url: `${url}/v1/logs`, timeoutMillis: 100, env: {} });
    const t = await exportOnce(slow, new Uint8Array([1]));
    expect(t.code).toBe(ExportResultCode.FAILED);
    expect(String(t.error)).toMatch(/timed out/);
    await Promise.all([e.shutdown(), refused.shutdown(), slow.shutdown()]);
  });

  it('tells a refusal for good (4xx) from one to retry after a delay (429, 503 with Retry-After)', async () => {
    const e = new OtlpHttpExporter('logs', { url: `${url}/v1/logs`, env: {} });
    status = 400;
    expect(await exportOnce(e, new Uint8Array([1]))).toMatchObject({ code: ExportResultCode.FAILED, retryable: false });
    status = 429;
    retryAfter = '7';
    const r = await exportOnce(e, new Uint8Array([1]));
    expect(r).toMatchObject({ code: ExportResultCode.FAILED, retryAfterMillis: 7000 });
    expect((r as { retryable?: boolean }).retryable).toBeUndefined();
    await e.shutdown();
  });

  it('many exports at once: every one calls back once, with its own bytes', async () => {
    const e = new OtlpHttpExporter('logs', { url: `${url}/v1/logs`, env: {} });
    const bodies = Array.from({ length: 40 }, (_, i) => new Uint8Array(1000 + i * 977).fill(i));
    const results = await Promise.all(bodies.map((b) => exportOnce(e, b)));
    expect(results.every((r) => r.code === ExportResultCode.SUCCESS)).toBe(true);
    expect(received.map((r) => r.body.length).sort((x, y) => x - y)).toEqual(bodies.map((b) => b.length));
    for (const r of received) expect(r.body.every((x) => x === r.body[0])).toBe(true);
    await e.shutdown();
  });


  it('http/json: the span processor sends OTLP/JSON, transcoded where the request is made (hex ids, int64 as exact decimal strings)', async () => {
    const p = new BatchingSpanProcessor({ env: {}, exporter: new OtlpHttpExporter('traces', { url: `${url}/v1/traces`, protocol: 'http/json', env: {} }) });
    const tracer = new TracerProvider({ spanProcessors: [p] }).getTracer('t');
    const span = tracer.startSpan('json-span', { attributes: { big: 2 ** 60 } });
    span.end();
    await p.forceFlush();
    expect(received[0].headers['content-type']).toBe('application/json');
    const body = JSON.parse(received[0].body.toString('utf8'));
    const s = body.resourceSpans[0].scopeSpans[0].spans[0];
    expect(s.name).toBe('json-span');
    expect(s.traceId).toBe(span.spanContext().traceId);
    expect(s.attributes[0]).toEqual({ key: 'big', value: { intValue: (2n ** 60n).toString() } }); // exact, not 1152921504606847000
    await p.shutdown();
  });
});

describe('OtlpHttpExporter', () => {
  it('behind the log processor: every record arrives, in one request that decodes with the official protos', async () => {
    const p = new BatchingLogRecordProcessor({ env: {}, exporter: new OtlpHttpExporter('logs', { url: `${url}/v1/logs`, env: {} }) });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 100; i++) logger.emit({ severityNumber: SeverityNumber.INFO, body: `r${i}`, attributes: { i } });
    await p.forceFlush();
    expect(p.stats()).toMatchObject({ exported: 100, queued: 0, inFlight: 0 });
    const req = decodeOtlp('logs', received[0].body) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body: { stringValue: string } }> }> }> };
    expect(req.resourceLogs[0].scopeLogs[0].logRecords.map((r) => r.body.stringValue)).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`));
    await p.shutdown();
  });

});
