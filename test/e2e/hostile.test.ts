/**
 * Hostile input through the API and the bridges: a real child process with the preload
 * (hostile-app.js) throws circular objects, BigInt, Symbol keys, throwing getters and Proxies, 10 MB
 * strings, invalid UTF-8 buffers and 100k attributes at the logs API, the preload's logger, the trace
 * API, pino and stdout lines, sending to the real ccr-otelcol (shipped config). Twice: with stdout
 * capture (pino's lines read from stdout) and without (the pino instrumentation sends them).
 * The child never sees a throw and ends by itself; the collector has every readable record, with
 * values cut to the limits (1 MiB of UTF-8 by default) at a character boundary; the sender's counts
 * add up: records emitted = exported + dropped (unreadable ones), truncated and circular counted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readJsonLines, signalFiles, startCollector, tearDown, type RunningCollector } from '../helpers/collector';
import { attrValue, logRecordsOf, spansOf } from '../helpers/otlp-json';
import { childEnv, node24, OTEL_SETUP_DIR, start, waitFor, type Started } from '../helpers/process';

const APP = path.join(__dirname, 'hostile-app.js');
const MAX_VALUE_BYTES = 1024 * 1024;
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-hostile-e2e-'));
const procs: Started[] = [];
let col: RunningCollector;

beforeAll(async () => {
  col = await startCollector();
});

afterAll(async () => {
  await tearDown(procs, [col], [outDir]);
});

/** The child's final report (written to stderr as one JSON line). */
function report(p: Started): any {
  for (const l of p.output().split('\n')) {
    if (l.startsWith('{"done":true')) return JSON.parse(l);
  }
  return undefined;
}

function byCase(records: any[]): Map<string, any> {
  const m = new Map<string, any>();
  for (const r of records) m.set(attrValue(r.attributes, 'case') as string, r);
  return m;
}

const attrsOf = (r: any) => Object.fromEntries((r.attributes ?? []).map((kv: any) => [kv.key, kv.value]));
const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

describe.each([
  ['with stdout capture', 'true'],
  ['without stdout capture (pino instrumentation)', 'false'],
])('hostile input %s', (_label, capture) => {
  const run = `hostile-${capture}-${Date.now()}`;
  const runId = Math.floor(Math.random() * 1e9);
  let redactedRecords: any[];
  let app: Started;
  let done: any;
  let logRecords: Map<string, any>;
  let spans: any[];

  beforeAll(async () => {
    app = start(node24(), ['-r', OTEL_SETUP_DIR, APP], {
      env: childEnv({
        OTEL_SETUP_DIR,
        OTEL_SERVICE_NAME: 'hostile-e2e',
        OTEL_EXPORTER_OTLP_ENDPOINT: col.otlpHttpEndpoint,
        LOG_LEVEL: 'info',
        // 10 MB strings keep the event loop busy: the level floor must not move
        CCR_OTEL_ADAPTIVE: 'false',
        CCR_OTEL_CAPTURE_STDOUT: capture,
        RUN: run,
        RUN_ID: String(runId),
      }),
      outputFile: path.join(outDir, `${run}.out`),
    });
    procs.push(app);
    const exit = await app.exited();
    done = report(app);
    if (!done) throw new Error(`no report from the child (exit ${JSON.stringify(exit)}):\n${app.output().slice(-3000)}`);
    expect(exit).toEqual({ code: 0, signal: null });
    const expected = done.records - done.unreadable - done.redacted;
    const found = () => logRecordsOf(readJsonLines(signalFiles(col.dataDir, 'logs').all)).filter((r) => attrValue(r.attributes, 'run') === run);
    const all = await waitFor('every readable record on disk', () => {
      const f = found();
      return f.length >= expected ? f : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 }).catch(() => found());
    logRecords = byCase(all);
    redactedRecords = logRecordsOf(readJsonLines(signalFiles(col.dataDir, 'logs').all)).filter((r) => attrValue(r.attributes, 'runId') === runId);
    spans = await waitFor('both spans on disk', () => {
      const s = spansOf(readJsonLines(signalFiles(col.dataDir, 'traces').all)).filter((x) => attrValue(x.attributes, 'run') === run);
      return s.length >= 2 ? s : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 }).catch(() => []);
  });

  it('never throws into the application, which ends by itself', () => {
    expect(done.errors).toEqual([]);
  });

  it('the sender counts add up: every record emitted is exported or dropped as unreadable; cuts are counted, not dropped', () => {
    const s = done.stats.logs;
    const dropped = Object.values(s.dropped as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(s.queued + s.inFlight + s.spilled).toBe(0);
    expect({ emitted: s.exported + dropped, unreadable: s.dropped.unreadable }).toEqual({ emitted: done.records, unreadable: done.unreadable });
    // huge body, huge attribute, emoji body, façade, pino's 10 MB message (+ the stdout line when captured)
    expect(s.truncated).toBeGreaterThanOrEqual(capture === 'true' ? 6 : 5);
    expect(s.circular).toBeGreaterThanOrEqual(2);
    const sp = done.stats.spans;
    expect(sp.unreadableCalls).toBe(done.refusedCalls);
    expect(sp.truncated).toBe(2); // the 10 MB attribute and status message
    expect(sp.exported).toBeGreaterThanOrEqual(2);
  });

  it('the collector has every readable record and none of the unreadable ones', () => {
    expect(logRecords.size).toBe(done.records - done.unreadable - done.redacted);
    // a body whose getters throw: the redacting processor lets nothing unchecked leave (body and strings replaced, numbers kept)
    expect(redactedRecords.map((r) => r.body.stringValue)).toEqual(Array(done.redacted).fill('[REDACTED]'));
    for (const c of ['getter-attrs', 'getter-body', 'proxy-body', 'facade-getter-error', 'facade-error-stack']) expect(logRecords.has(c)).toBe(false);
  });

  it('10 MB strings arrive cut to 1 MiB of UTF-8, at a character boundary', () => {
    expect(logRecords.get('huge-body').body.stringValue).toBe('x'.repeat(MAX_VALUE_BYTES));
    expect(attrsOf(logRecords.get('huge-attr')).big.stringValue).toHaveLength(MAX_VALUE_BYTES);
    expect(logRecords.get('facade-huge').body.stringValue).toHaveLength(MAX_VALUE_BYTES);
    const emoji: string = logRecords.get('emoji-body').body.stringValue;
    // 'a' + 262,143 four-byte characters: the 262,144th would pass 1 MiB; no half character, no U+FFFD
    expect(utf8(emoji)).toBe(1 + 4 * 262_143);
    expect(emoji).toBe('a' + '😀'.repeat(262_143));
    const pinoHuge = logRecords.get('pino-huge');
    expect(utf8(pinoHuge.body.stringValue)).toBeLessThanOrEqual(MAX_VALUE_BYTES);
    expect(pinoHuge.body.stringValue.length).toBeGreaterThan(MAX_VALUE_BYTES - 100);
    if (capture === 'true') expect(logRecords.get('stdout-huge').body.stringValue).toBe('x'.repeat(MAX_VALUE_BYTES));
  });

  it('cycles are cut with a marker; BigInt is an int64 or its digits; symbol keys are ignored; bytes stay bytes', () => {
    const circ = Object.fromEntries(logRecords.get('circular-body').body.kvlistValue.values.map((kv: any) => [kv.key, kv.value]));
    expect(circ.self).toEqual({ stringValue: '[Circular]' });
    expect(circ.list.arrayValue.values).toEqual([{ stringValue: '[Circular]' }, { stringValue: 'end' }]);
    const big = Object.fromEntries(logRecords.get('bigint-body').body.kvlistValue.values.map((kv: any) => [kv.key, kv.value]));
    expect(big).toEqual({ small: { intValue: '42' }, min: { intValue: String(-(2n ** 63n)) }, huge: { stringValue: String(2n ** 70n) } });
    // the SDK refuses a BigInt attribute (not an AnyValue): the record comes without it
    expect(Object.keys(attrsOf(logRecords.get('bigint-attr'))).sort()).toEqual(['case', 'ok', 'run']);
    const sym = logRecords.get('symbols');
    expect(sym.body.kvlistValue.values.map((kv: any) => kv.key).sort()).toEqual(['ok', 'v']);
    expect(Object.keys(attrsOf(sym)).sort()).toEqual(['case', 'run']);
    const bytes = logRecords.get('bytes');
    const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xed, 0xa0, 0x80]);
    expect(Buffer.from(bytes.body.bytesValue, 'base64')).toEqual(bad);
    expect(Buffer.from(attrsOf(bytes).raw.bytesValue, 'base64')).toEqual(bad);
  });

  it('100k attributes: 128 kept, the rest in dropped_attributes_count', () => {
    const r = logRecords.get('many-attrs');
    expect(r.attributes).toHaveLength(128);
    expect(r.droppedAttributesCount).toBe(100_000 + 2 - 128);
  });

  it('pino: circular objects and BigInt come through its own serializer', () => {
    expect(logRecords.get('pino-circular')).toBeDefined();
    expect(logRecords.get('pino-bigint')).toBeDefined();
    expect(logRecords.get('pino-getter')).toBeDefined();
    if (capture === 'true') {
      // invalid UTF-8 in a stdout line: the line is text, its bad bytes become U+FFFD (both paths to fd 1)
      for (const c of ['stdout-bad-utf8', 'fd-bad-utf8']) expect(logRecords.get(c).body.stringValue).toContain('\ufffd');
    }
  });

  it('spans: the hostile calls left the span as it was; values cut to 1 MiB', () => {
    const s = spans.find((x) => x.name === 'Symbol(odd)');
    expect(s).toBeDefined();
    const a = attrsOf(s);
    expect(a.huge.stringValue).toHaveLength(MAX_VALUE_BYTES);
    expect(a.n).toBeUndefined();
    expect(s.status.message).toHaveLength(MAX_VALUE_BYTES);
    expect(spans.some((x) => x.name === 'second')).toBe(true);
  });
});
