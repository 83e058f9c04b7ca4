import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SeverityNumber } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import {
  BatchingLogRecordProcessor,
  BatchingSpanProcessor,
  ExportSpill,
  MAX_BACKOFF_MILLIS,
  outcomeUnknown,
  MAX_RETRY_AFTER_MILLIS,
  OtlpHttpExporter,
  parseRetryAfter,
  type EncodedBatch,
  type EncodedBatchExporter,
  type ExportOutcome,
  type ProcessorStats,
} from '../src';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { loggerFor, metricPoints, TestMetricReader } from './helpers';
import { decodeOtlp } from './otlp';
import { markHoldersDead, tempDir, until } from './spill-helpers';

const OK: ExportOutcome = { code: ExportResultCode.SUCCESS };
/** A connection never made: nothing can have arrived. */
const REFUSED: ExportOutcome = { code: ExportResultCode.FAILED, error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) };

/** The bodies of a logs request's records. */
function bodiesOf(bytes: Uint8Array): string[] {
  const j = decodeOtlp('logs', bytes) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body: { stringValue: string } }> }> }> };
  return j.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => l.body.stringValue)));
}

/** The names of a traces request's spans. */
function spanNamesOf(bytes: Uint8Array): string[] {
  const j = decodeOtlp('traces', bytes) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> };
  return j.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)));
}

/** A collector stand-in whose answer per call is scripted; answers asynchronously, as a socket does. */
class ScriptedEncodedExporter implements EncodedBatchExporter {
  readonly exportsEncodedBatches = true as const;
  readonly bodies: string[] = [];
  readonly callTimes: number[] = [];
  constructor(
    public answer: (call: number) => ExportOutcome | 'hang',
    private readonly read: (bytes: Uint8Array) => string[] = bodiesOf,
  ) {}
  get calls(): number {
    return this.callTimes.length;
  }
  export(batch: EncodedBatch, cb: (r: ExportOutcome) => void): void {
    const call = this.callTimes.length;
    this.callTimes.push(Date.now());
    const a = this.answer(call);
    if (a === 'hang') return;
    if (a.code === ExportResultCode.SUCCESS) this.bodies.push(...this.read(batch.bytes));
    void Promise.resolve().then(() => cb(a));
  }
  async shutdown(): Promise<void> {}
}

const sum = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);
/** emitted = exported + dropped + queued + inFlight + spilled. */
function expectAddsUp(s: ProcessorStats, emitted: number): void {
  expect(s.exported + sum(s.dropped) + s.queued + s.inFlight + s.spilled).toBe(emitted);
}

/** Waits on real I/O while timers may be fake (setImmediate stays real). */
async function spinUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

const spills: ExportSpill[] = [];
function newSpill(dir: string, flushIntervalMillis = 20): ExportSpill {
  const s = new ExportSpill({ dir, serviceName: 'svc', flushIntervalMillis });
  spills.push(s);
  return s;
}
afterEach(async () => {
  jest.useRealTimers();
  await Promise.all(spills.splice(0).map((s) => s.close()));
});

describe('processors with a durable spill', () => {
  it('spills batches while the collector is down and replays them all once it is back; stats add up throughout', async () => {
    const spill = newSpill(tempDir());
    await spill.open();
    let down = true;
    const exporter = new ScriptedEncodedExporter(() => (down ? REFUSED : OK));
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, spill, maxExportBatchSize: 50, scheduledDelayMillis: 5, retryBaseDelayMillis: 20 });
    const { logger } = loggerFor(p);
    let emitted = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 100; i++) logger.emit({ body: `r${emitted++}`, severityNumber: SeverityNumber.INFO });
      await new Promise((r) => setTimeout(r, 10));
      expectAddsUp(p.stats(), emitted);
    }
    await until(() => p.stats().spilled === emitted);
    const during = p.stats();
    expect(during.exported).toBe(0);
    expect(sum(during.dropped)).toBe(0);
    // backoff: far fewer attempts than the 40 batches
    expect(exporter.calls).toBeLessThan(20);
    expect(p.queueFill()).toBe(0);

    down = false;
    for (let i = 0; i < 500; i++) logger.emit({ body: `r${emitted++}`, severityNumber: SeverityNumber.INFO });
    await until(() => p.stats().exported === emitted, 15_000);
    const after = p.stats();
    // refused outright: nothing can have arrived twice
    expect(after).toMatchObject({ exported: 2500, spilled: 0, queued: 0, inFlight: 0, possibleDuplicates: 0 });
    expect(sum(after.dropped)).toBe(0);
    expect(new Set(exporter.bodies).size).toBe(2500);
    expect(exporter.bodies.length).toBe(2500);
    expect(spill.pendingRecords()).toBe(0);
    await p.shutdown();
  });

  it('honours Retry-After: no attempt before it is over, then replays and sends', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const spill = newSpill(tempDir());
    await spill.open();
    const exporter = new ScriptedEncodedExporter((call) =>
      call === 0 ? { code: ExportResultCode.FAILED, error: new Error('HTTP 503'), retryAfterMillis: 7000 } : OK,
    );
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, spill, maxExportBatchSize: 10, scheduledDelayMillis: 0 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 10; i++) logger.emit({ body: `a${i}`, severityNumber: SeverityNumber.INFO });
    await spinUntil(() => p.stats().spilled === 10);
    // live traffic during the wait goes to the spill without an attempt
    for (let i = 0; i < 10; i++) logger.emit({ body: `b${i}`, severityNumber: SeverityNumber.INFO });
    await spinUntil(() => p.stats().spilled === 20);
    jest.advanceTimersByTime(6900);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(exporter.calls).toBe(1);
    jest.advanceTimersByTime(200);
    await spinUntil(() => p.stats().exported === 20);
    expect(exporter.calls).toBe(3);
    expect(exporter.callTimes[1] - exporter.callTimes[0]).toBeGreaterThanOrEqual(7000);
    expect(new Set(exporter.bodies).size).toBe(20);
    expectAddsUp(p.stats(), 20);
  });

  it('backs off exponentially while the collector stays down, capped, without a busy loop', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    // batches stay in memory: no disk read whose real duration would span fake seconds
    const spill = newSpill(tempDir(), 3_600_000);
    await spill.open();
    const exporter = new ScriptedEncodedExporter(() => REFUSED);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, spill, maxExportBatchSize: 10, scheduledDelayMillis: 0 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 10; i++) logger.emit({ body: `a${i}`, severityNumber: SeverityNumber.INFO });
    await spinUntil(() => p.stats().spilled === 10);
    for (let s = 0; s < 240; s++) {
      jest.advanceTimersByTime(1000);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    }
    // 4 minutes: delays 0.25-0.5 s, doubling, capped at 2.5-5 s (at least 48 probes; a loaded machine
    // can leave a probe's chain of ticks unfinished within a fake second, so the floor is a quarter of that)
    expect(exporter.calls).toBeGreaterThanOrEqual(240_000 / MAX_BACKOFF_MILLIS / 4);
    expect(exporter.calls).toBeLessThanOrEqual((2 * 240_000) / MAX_BACKOFF_MILLIS + 10);
    const gaps = exporter.callTimes.slice(1).map((t, i) => t - exporter.callTimes[i]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(MAX_BACKOFF_MILLIS + 1000);
    expect(gaps[gaps.length - 1]).toBeGreaterThanOrEqual(MAX_BACKOFF_MILLIS / 2);
    expect(p.stats()).toMatchObject({ spilled: 10, exported: 0 });
  });

  it('an outage is not load: with the spill, batches waiting on a failed collector leave queueFill', async () => {
    const fill = async (withSpill: boolean): Promise<number> => {
      const exporter = new ScriptedEncodedExporter(() => REFUSED);
      const spill = withSpill ? newSpill(tempDir()) : undefined;
      await spill?.open();
      const p = new BatchingLogRecordProcessor({
        env: {}, exporter, spill, maxQueueSize: 1000, maxExportBatchSize: 100, scheduledDelayMillis: 0, maxExportAttempts: 5, retryBaseDelayMillis: 5000,
      });
      const { logger } = loggerFor(p);
      for (let i = 0; i < 600; i++) logger.emit({ body: `r${i}`, severityNumber: SeverityNumber.INFO });
      await until(() => p.stats().inFlight === 0 && p.stats().queued + p.stats().spilled === 600 && exporter.calls >= 1);
      await new Promise((r) => setTimeout(r, 50));
      expectAddsUp(p.stats(), 600);
      return p.queueFill();
    };
    expect(await fill(false)).toBeGreaterThanOrEqual(0.4);
    expect(await fill(true)).toBe(0);
  });

  it('a stalled collector (exports never answered) fills neither memory nor queueFill: the excess goes to the spill', async () => {
    const spill = newSpill(tempDir());
    await spill.open();
    const hung = new ScriptedEncodedExporter(() => 'hang');
    const p = new BatchingLogRecordProcessor({
      env: {}, exporter: hung, spill, maxQueueSize: 2000, maxExportBatchSize: 50, maxConcurrentExports: 2, scheduledDelayMillis: 20,
    });
    const { logger } = loggerFor(p);
    let emitted = 0;
    let maxQueued = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 2500) {
      for (let i = 0; i < 40; i++) logger.emit({ body: `r${emitted++}`, severityNumber: SeverityNumber.INFO });
      await new Promise((r) => setTimeout(r, 20));
      const s = p.stats();
      expectAddsUp(s, emitted);
      if (Date.now() - t0 > 1500) maxQueued = Math.max(maxQueued, s.queued);
    }
    const s = p.stats();
    expect(hung.calls).toBe(2);
    expect(s.inFlight).toBeGreaterThan(0);
    expect(s.spilled).toBeGreaterThan(0);
    expect(sum(s.dropped)).toBe(0);
    // without the spill the queue would hold everything not in flight (~4,000, past maxQueueSize)
    expect(maxQueued).toBeLessThan(1000);
    expect(p.queueFill()).toBeLessThan(0.5);
  });

  it('logs and spans share one spill: the replay sends each batch to the exporter of its signal', async () => {
    const spill = newSpill(tempDir());
    await spill.open();
    let down = true;
    const logsOut = new ScriptedEncodedExporter(() => (down ? REFUSED : OK));
    const spansOut = new ScriptedEncodedExporter(() => (down ? REFUSED : OK), spanNamesOf);
    const lp = new BatchingLogRecordProcessor({ env: {}, exporter: logsOut, spill, maxExportBatchSize: 20, scheduledDelayMillis: 5, retryBaseDelayMillis: 20 });
    const sp = new BatchingSpanProcessor({ env: {}, exporter: spansOut, spill, maxExportBatchSize: 20, scheduledDelayMillis: 5, retryBaseDelayMillis: 20 });
    const { logger } = loggerFor(lp);
    const tracer = new TracerProvider({ spanProcessors: [sp] }).getTracer('t');
    for (let i = 0; i < 100; i++) {
      logger.emit({ body: `log${i}`, severityNumber: SeverityNumber.INFO });
      tracer.startSpan(`span${i}`).end();
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => lp.stats().spilled === 100 && sp.stats().spilled === 100);
    down = false;
    logger.emit({ body: 'log-live', severityNumber: SeverityNumber.INFO });
    tracer.startSpan('span-live').end();
    await until(() => lp.stats().exported === 101 && sp.stats().exported === 101, 15_000);
    expect(new Set(logsOut.bodies).size).toBe(101);
    expect(logsOut.bodies.every((b) => b.startsWith('log'))).toBe(true);
    expect(new Set(spansOut.bodies).size).toBe(101);
    expect(spansOut.bodies.every((b) => b.startsWith('span'))).toBe(true);
    expect(spill.pendingRecords()).toBe(0);
  });

  it('spillSync writes what is queued, waiting and in flight at exit; a successor replays it', async () => {
    const dir = tempDir();
    const spill = newSpill(dir);
    await spill.open();
    const hung = new ScriptedEncodedExporter(() => 'hang');
    const p = new BatchingLogRecordProcessor({
      env: {}, exporter: hung, spill, maxExportBatchSize: 50, maxConcurrentExports: 2, scheduledDelayMillis: 60_000,
    });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 275; i++) logger.emit({ body: `r${i}`, severityNumber: SeverityNumber.WARN });
    await until(() => hung.calls === 2);
    expect(p.stats()).toMatchObject({ inFlight: 100, queued: 175 });
    expect(p.spillSync()).toBe(275);
    const s = p.stats();
    expect(s).toMatchObject({ queued: 0, inFlight: 0, spilled: 275, exported: 0 });
    expectAddsUp(s, 275);
    // written synchronously: on disk before spillSync returned
    expect(spill.spill.stats().written.records).toBe(275);
    logger.emit({ body: 'late', severityNumber: SeverityNumber.WARN });
    expect(p.stats().dropped.shutdown).toBe(1);
    await spill.close();

    markHoldersDead(dir, 'svc');
    const next = newSpill(dir);
    const exporter = new ScriptedEncodedExporter(() => OK);
    const q = new BatchingLogRecordProcessor({ env: {}, exporter, spill: next });
    await next.open();
    await until(() => q.stats().adoptedExported === 275);
    expect(new Set(exporter.bodies).size).toBe(275);
    // the two batches that were in flight (sent, no answer) may have arrived before: counted, the rest not
    expect(q.stats()).toMatchObject({ exported: 0, spilled: 0, adoptedDropped: 0, possibleDuplicates: 100 });
    expectAddsUp(q.stats(), 0);
  });

  it('counts what the spill lets go (spill_full) in the processor of its signal; stats still add up', async () => {
    const spill = new ExportSpill({ dir: tempDir(), serviceName: 'svc', maxBytes: 4096, flushIntervalMillis: 20 });
    spills.push(spill);
    await spill.open();
    const exporter = new ScriptedEncodedExporter(() => REFUSED);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, spill, maxExportBatchSize: 10, scheduledDelayMillis: 0 });
    const { logger } = loggerFor(p);
    // ~10 batches of ~1 KiB: the spill holds about 3
    for (let i = 0; i < 100; i++) logger.emit({ body: `r${i}-${'x'.repeat(80)}`, severityNumber: SeverityNumber.INFO });
    await until(() => p.stats().queued + p.stats().inFlight === 0);
    const s = p.stats();
    expect(s.dropped.spill_full).toBeGreaterThan(0);
    expect(s.spilled).toBeGreaterThan(0);
    expect(s.spilled + s.dropped.spill_full).toBe(100);
    expect(s.spilled).toBe(spill.pendingRecords());
    expectAddsUp(s, 100);
  });

  it('an export that timed out goes to the spill uncertain: its delivery counts as a possible duplicate; an HTTP refusal does not', async () => {
    const spill = newSpill(tempDir());
    await spill.open();
    // the first export never answers (a black hole), then the collector accepts
    const exporter = new ScriptedEncodedExporter((call) => (call === 0 ? 'hang' : OK));
    const reader = new TestMetricReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const p = new BatchingLogRecordProcessor({
      env: {}, exporter, spill, meterProvider, maxExportBatchSize: 10, scheduledDelayMillis: 0, exportTimeoutMillis: 100, retryBaseDelayMillis: 20,
    });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 10; i++) logger.emit({ body: `t${i}`, severityNumber: SeverityNumber.INFO });
    await until(() => p.stats().exported === 10);
    expect(p.stats()).toMatchObject({ exported: 10, spilled: 0, possibleDuplicates: 10 });
    expectAddsUp(p.stats(), 10);
    expect(spill.spill.stats().possibleDuplicates.records).toBe(10);
    expect((await metricPoints(reader, 'ccr.processor.log.possible_duplicates')).map((d) => d.value)).toEqual([10]);

    const spill2 = newSpill(tempDir());
    await spill2.open();
    const unavailable: ExportOutcome = { code: ExportResultCode.FAILED, error: new Error('HTTP 503'), httpStatus: 503, retryAfterMillis: 50 };
    const refusing = new ScriptedEncodedExporter((call) => (call === 0 ? unavailable : OK));
    const q = new BatchingLogRecordProcessor({ env: {}, exporter: refusing, spill: spill2, maxExportBatchSize: 10, scheduledDelayMillis: 0 });
    const { logger: l2 } = loggerFor(q);
    for (let i = 0; i < 10; i++) l2.emit({ body: `u${i}`, severityNumber: SeverityNumber.INFO });
    await until(() => q.stats().exported === 10);
    expect(q.stats()).toMatchObject({ exported: 10, possibleDuplicates: 0 });
  });

  it.each<[string, ExportOutcome | undefined, boolean]>([
    ['no answer (timed out)', undefined, true],
    ['an HTTP answer', { code: ExportResultCode.FAILED, error: new Error('HTTP 502'), httpStatus: 502 }, false],
    ['connection refused', REFUSED, false],
    ['name not resolved', { code: ExportResultCode.FAILED, error: Object.assign(new Error('getaddrinfo'), { code: 'ENOTFOUND' }) }, false],
    ['connection reset after sending', { code: ExportResultCode.FAILED, error: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }, true],
    ["the exporter's own timeout", { code: ExportResultCode.FAILED, error: new Error('OTLP logs export timed out after 10000 ms') }, true],
  ])('outcomeUnknown: %s', (_, result, unknown) => {
    expect(outcomeUnknown(result)).toBe(unknown);
  });

  it('refuses an SDK exporter with a spill (a replayed batch is bytes only)', () => {
    const spill = newSpill(tempDir());
    const sdkExporter = { export: () => {}, shutdown: async () => {}, forceFlush: async () => {} };
    expect(() => new BatchingLogRecordProcessor({ env: {}, exporter: sdkExporter, spill })).toThrow(/encoded-batch exporter/);
  });
});

describe('possible duplicates without a spill', () => {
  it.each<[string, ExportOutcome, number]>([
    ['a connection lost after it was made: the retry may deliver it twice, counted', { code: ExportResultCode.FAILED, error: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }, 10],
    ['a connection refused: the retry cannot duplicate, not counted', REFUSED, 0],
    ['an HTTP 503: not counted', { code: ExportResultCode.FAILED, error: new Error('HTTP 503'), httpStatus: 503 }, 0],
  ])('an export retried in memory after %s', async (_, failure, counted) => {
    const exporter = new ScriptedEncodedExporter((call) => (call === 0 ? failure : OK));
    const p = new BatchingLogRecordProcessor({ env: {}, exporter, maxExportBatchSize: 10, scheduledDelayMillis: 0, retryBaseDelayMillis: 10 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 10; i++) logger.emit({ body: `m${i}`, severityNumber: SeverityNumber.INFO });
    await until(() => p.stats().exported === 10);
    expect(exporter.calls).toBe(2);
    expect(p.stats()).toMatchObject({ exported: 10, possibleDuplicates: counted });
    expectAddsUp(p.stats(), 10);
  });
});

describe('Retry-After', () => {
  it('parses delay-seconds and HTTP dates, caps them, ignores garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now)).toBe(MAX_RETRY_AFTER_MILLIS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('OtlpHttpExporter reports Retry-After on 429 and 503, and 400 as not retryable', async () => {
    const answers: Array<[number, Record<string, string>]> = [
      [429, { 'retry-after': '2' }],
      [503, { 'retry-after': new Date(Date.now() + 60_000).toUTCString() }],
      [503, {}],
      [400, {}],
      [500, { 'retry-after': '5' }],
    ];
    let n = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const [status, headers] = answers[n++];
        res.writeHead(status, headers).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const e = new OtlpHttpExporter('logs', { url: `http://127.0.0.1:${port}/v1/logs`, env: {} });
      const batch = { bytes: new Uint8Array(0), count: 0, minSeq: 0, minClass: 0, maxClass: 0, scopes: [] };
      const results: ExportOutcome[] = [];
      for (let i = 0; i < answers.length; i++) results.push(await new Promise<ExportOutcome>((r) => e.export(batch, r)));
      await e.shutdown();
      expect(results.map((r) => r.code)).toEqual(answers.map(() => ExportResultCode.FAILED));
      expect(results[0].retryAfterMillis).toBe(2000);
      expect(results[1].retryAfterMillis).toBeGreaterThan(55_000);
      expect(results[1].retryAfterMillis).toBeLessThanOrEqual(60_000);
      expect(results[2].retryAfterMillis).toBeUndefined();
      expect(results[3].retryable).toBe(false);
      expect(results[4].retryAfterMillis).toBeUndefined();
      expect(results[4].retryable).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
