import * as fs from 'node:fs';
import * as path from 'node:path';
import { SeverityNumber } from '@opentelemetry/api';
import type { LogRecord, Logger } from '@opentelemetry/api';
import { StdoutCapture, pinoSeverity } from '../src/stdout-capture';
import { redactUrl } from '../src/redact';
import { RedactingLogRecordProcessor } from '../src/redacting-processors';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { attr, childEnv, runChild, startSink } from './helpers';

function fakeLogger() {
  const records: LogRecord[] = [];
  const logger = { emit: (r: LogRecord) => records.push(r), enabled: () => true } as unknown as Logger;
  return { logger, records };
}

describe('stdout capture', () => {
  test('pino levels map to severities', () => {
    expect(pinoSeverity(10)).toEqual([SeverityNumber.TRACE, 'TRACE']);
    expect(pinoSeverity(20)).toEqual([SeverityNumber.DEBUG, 'DEBUG']);
    expect(pinoSeverity(30)).toEqual([SeverityNumber.INFO, 'INFO']);
    expect(pinoSeverity(40)).toEqual([SeverityNumber.WARN, 'WARN']);
    expect(pinoSeverity(50)).toEqual([SeverityNumber.ERROR, 'ERROR']);
    expect(pinoSeverity(60)).toEqual([SeverityNumber.FATAL, 'FATAL']);
    expect(pinoSeverity(35)).toEqual([SeverityNumber.INFO, 'INFO']);
    expect(pinoSeverity('warn')).toEqual([SeverityNumber.WARN, 'WARN']);
    expect(pinoSeverity('nope')).toBeUndefined();
  });

  test('JSON lines become records, other lines pass through, partial lines wait, nested secrets redacted', () => {
    const { logger, records } = fakeLogger();
    const c = new StdoutCapture({ logger });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanId = 'b7ad6b7169203331';
    let r = c.processText(
      'plain text\n' +
        JSON.stringify({ level: 50, time: 1700000000000, pid: 1, hostname: 'h', msg: 'boom', trace_id: traceId, span_id: spanId, trace_flags: '01', reqId: 'r1', req: { url: '/x', headers: { authorization: 'Bearer sk-1' } }, apiKey: 'sk-2' }) +
        '\n{"not":"pino"}\n{"level":30,"msg":"par',
    );
    expect(r.pass).toBe('plain text\n{"not":"pino"}\n');
    expect(r.pending).toBe('{"level":30,"msg":"par');
    r = c.processText('tial"}\nnot json {\n');
    expect(r.pass).toBe('not json {\n');
    expect(records).toHaveLength(2);
    const [a, b] = records;
    expect(a.severityNumber).toBe(SeverityNumber.ERROR);
    expect(a.severityText).toBe('ERROR');
    expect(a.body).toBe('boom');
    expect(a.timestamp).toBe(1700000000000);
    expect(a.attributes).toMatchObject({ reqId: 'r1', 'log.iostream': 'stdout' });
    expect(a.attributes!.pid).toBeUndefined();
    // a top-level secret is left to the log processor (one pass, below); nested ones are replaced in the JSON text
    expect(a.attributes!.apiKey).toBe('sk-2');
    expect(String(a.attributes!.req)).not.toContain('sk-1');
    const { trace } = require('@opentelemetry/api');
    const sc = trace.getSpanContext(a.context);
    expect(sc).toMatchObject({ traceId, spanId });
    expect(b.body).toBe('partial');
    expect(b.severityNumber).toBe(SeverityNumber.INFO);
  });

  test('a line takes the active trace only when it is the one line of a synchronous write', () => {
    const { trace, context, ROOT_CONTEXT } = require('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
    const mgr = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(mgr);
    try {
      const { logger, records } = fakeLogger();
      const c = new StdoutCapture({ logger });
      const sc = { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1 };
      const line = (m: string) => JSON.stringify({ level: 30, msg: m }) + '\n';
      context.with(trace.setSpanContext(ROOT_CONTEXT, sc), () => {
        c.processText(line('mine')); // written by the call that logged it
        c.processText(line('buffered a') + line('buffered b')); // a buffered destination's flush
      });
      expect(records.map((r) => [r.body, trace.getSpanContext(r.context)?.traceId])).toEqual([
        ['mine', sc.traceId],
        ['buffered a', undefined],
        ['buffered b', undefined],
      ]);
    } finally {
      context.disable();
      mgr.disable();
    }
  });

  test('a failure while looking at a write never reaches the app: the write goes out untouched', () => {
    const logger = { emit: () => undefined, enabled: () => { throw new Error('enabled exploded'); } } as unknown as Logger;
    const c = new StdoutCapture({ logger });
    const written: string[] = [];
    const orig = process.stdout.write;
    (process.stdout as { write: unknown }).write = (chunk: unknown) => (written.push(String(chunk)), true);
    try {
      c.start();
      expect(() => process.stdout.write('{"level":30,"msg":"x"}\n')).not.toThrow();
      c.stop();
    } finally {
      (process.stdout as { write: unknown }).write = orig;
    }
    expect(written).toEqual(['{"level":30,"msg":"x"}\n']);
    expect(c.failures).toBe(1);
  });

  test('a pino app in a child process: captured lines exported with trace ids, other output untouched', async () => {
    const sink = await startSink();
    try {
      const r = await runChild(
        ['-r', '@ccr/otel-setup', path.join(__dirname, 'fixtures', 'stdout-app.js')],
        childEnv(sink, { CCR_OTEL_CAPTURE_STDOUT: 'true', LOG_LEVEL: 'debug' }),
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('hello plain\n[not json]\n');
      const logs = sink.logs();
      const by = (m: string) => logs.find((l) => l.body?.stringValue === m);
      expect(by('via stdout.write warn').severityNumber).toBe(13);
      expect(by('via fs.writeSync error').severityNumber).toBe(17);
      expect(by('via fs.write info').severityNumber).toBe(9);
      expect(by('debug line').severityNumber).toBe(5);
      const inSpan = by('inside span');
      const span = sink.spans().find((s) => s.name === 'stdout-span');
      expect(inSpan.traceId).toBe(span.traceId);
      expect(attr(inSpan.attributes, 'log.iostream')).toBe('stdout');
    } finally {
      await sink.close();
    }
  });
});

test('stdout capture: level floor, offsets, encodings, split UTF-8, callbacks, unterminated output', async () => {
  const sink = await startSink();
  try {
    const r = await runChild(
      ['-r', '@ccr/otel-setup', path.join(__dirname, 'fixtures', 'stdout-edge.js')],
      childEnv(sink, { CCR_OTEL_CAPTURE_STDOUT: 'true', LOG_LEVEL: 'warn' }),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\{"level":30,.*"msg":"info below the floor"\}$/);
    expect(lines[1]).toBe('{"level":50,');
    expect(lines[2]).toMatch(/"msg":"latin1 write"\}$/);
    expect(lines[3]).toBe('{"a":"\u00e9t\u00e9"}');
    expect(lines[4]).toBe('{"result":"ok"}');
    expect(lines).toHaveLength(5);
    await sink.waitFor(() => sink.logs().length >= 2, 3000);
    const bodies = sink.logs().map((l) => l.body?.stringValue);
    expect(bodies).toContain('h\u00e9llo split');
    expect(bodies).toContain('with callback');
    expect(bodies).not.toContain('info below the floor');
    expect(bodies).not.toContain('offset write');
    expect(bodies).not.toContain('latin1 write');
  } finally {
    await sink.close();
  }
});

test('captured lines through the log processor: no secret at the top level or nested', () => {
  const seen: ReadWriteLogRecord[] = [];
  const sink: LogRecordProcessor = { onEmit: (r) => void seen.push(r), enabled: () => true, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  const provider = new LoggerProvider({ processors: [new RedactingLogRecordProcessor(), sink] });
  const c = new StdoutCapture({ logger: provider.getLogger('stdout') });
  c.processText(
    JSON.stringify({ level: 30, msg: 'call https://u:pw9@h.example/v1?key=AIzaSyCapture0123456789abcdefgh', apiKey: 'sk-cap-0123456789ab', req: { url: '/v1?token=tok-cap-1', headers: { 'X-Api-Key': 'hdr-cap-2', accept: 'json' } } }) + '\n',
  );
  expect(seen).toHaveLength(1);
  const text = JSON.stringify({ body: seen[0].body, attributes: seen[0].attributes });
  for (const s of ['pw9', 'AIzaSyCapture', 'sk-cap-', 'tok-cap-1', 'hdr-cap-2']) expect(text).not.toContain(s);
  expect(seen[0].attributes.apiKey).toBe('[REDACTED]');
  expect(String(seen[0].attributes.req)).toContain('"accept":"json"');
});

describe('redaction', () => {
  test('keys in URLs', () => {
    expect(redactUrl('https://x/v1?key=sk-1&alt=json')).toBe('https://x/v1?key=REDACTED&alt=json');
    expect(redactUrl('https://u:p@x/v1?api_key=1&access_token=2&x=3')).toBe('https://REDACTED:REDACTED@x/v1?api_key=REDACTED&access_token=REDACTED&x=3');
    expect(redactUrl('/plain/path')).toBe('/plain/path');
  });
});

test('fixtures exist', () => {
  expect(fs.existsSync(path.join(__dirname, 'fixtures', 'stdout-app.js'))).toBe(true);
});

test('log records: secret headers (any case, flattened or nested as pino-http does) and keys in URLs are redacted before the queue', () => {
  const seen: ReadWriteLogRecord[] = [];
  const sink: LogRecordProcessor = {
    onEmit: (r) => void seen.push(r),
    enabled: () => true,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new LoggerProvider({ processors: [new RedactingLogRecordProcessor(), sink] });
  provider.getLogger('t').emit({
    body: 'request',
    attributes: {
      Authorization: 'Bearer sk-1',
      'x-api-key': 'sk-2',
      'req.headers.cookie': 'c=sk-3',
      'http.request.header.proxy-authorization': 'Basic sk-4',
      req: { method: 'POST', url: '/v1/messages?key=sk-5', headers: { 'Set-Cookie': 'sk-6', 'content-type': 'application/json' } },
      'url.full': 'https://api.example/v1?api_key=sk-7&alt=json',
      plain: 'a@b c?d',
      n: 1,
    },
  });
  expect(seen).toHaveLength(1);
  const a = seen[0].attributes as Record<string, any>;
  const text = JSON.stringify(a);
  for (const k of ['sk-1', 'sk-2', 'sk-3', 'sk-4', 'sk-5', 'sk-6', 'sk-7']) expect(text).not.toContain(k);
  expect(a.Authorization).toBe('[REDACTED]');
  expect(a.req.headers['Set-Cookie']).toBe('[REDACTED]');
  expect(a.req.headers['content-type']).toBe('application/json');
  expect(a['url.full']).toBe('https://api.example/v1?api_key=REDACTED&alt=json');
  expect(a.plain).toBe('a@b c?d');
  expect(a.n).toBe(1);
  // it never asks for a record by itself: with no other processor, nothing is created
  const alone = new LoggerProvider({ processors: [new RedactingLogRecordProcessor()] });
  expect((alone.getLogger('t') as any).enabled({ severityNumber: 9 })).toBe(false);
});
