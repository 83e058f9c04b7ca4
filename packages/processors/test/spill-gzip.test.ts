import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { SeverityNumber } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchingLogRecordProcessor, ExportSpill, OtlpHttpExporter, type EncodedBatch, type ProcessorStats } from '../src';
import { DurableSpill } from '../src/spill';
import { FLAG_GZIP, HEADER_BYTES, STATE_OFFSET, decodeHeader, encodeHeader, scanSegment } from '../src/spill/entry-format';
import { loggerFor } from './helpers';
import { decodeOtlp } from './otlp';
import { compressible, drain, expectBalanced, idOf, markHoldersDead, payload, segmentFiles, tempDir, until } from './spill-helpers';

const spills: Array<DurableSpill | ExportSpill> = [];
function newSpill(dir: string, opts: Partial<ConstructorParameters<typeof DurableSpill>[0]> = {}): DurableSpill {
  const s = new DurableSpill({ dir, serviceName: 'svc', ...opts });
  spills.push(s);
  return s;
}
function newExportSpill(dir: string): ExportSpill {
  const s = new ExportSpill({ dir, serviceName: 'svc', flushIntervalMillis: 10 });
  spills.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(spills.splice(0).map((s) => s.close()));
});

async function written(spill: DurableSpill, batches: number): Promise<void> {
  await until(() => {
    spill.flush();
    return spill.stats().written.batches >= batches;
  });
}

/** The entries of every segment under `dir`, with their flags. */
function entriesOnDisk(dir: string): Array<{ file: string; offset: number; flags: number; records: number; payloadLength: number }> {
  return segmentFiles(dir).flatMap((file) =>
    scanSegment(readFileSync(file)).entries.map(({ offset, header }) => ({ file, offset, flags: header.flags, records: header.records, payloadLength: header.payloadLength })),
  );
}

/** Rewrites the entry at `offset` of `file` with `bytes` (same length) and `flags`, its checksums made to match. */
function rewriteEntry(file: string, offset: number, bytes: Uint8Array, flags: number): void {
  const buf = readFileSync(file);
  const h = decodeHeader(buf, offset)!;
  expect(bytes.length).toBe(h.payloadLength);
  encodeHeader(h.signal, h.priority, h.records, h.createdAt, bytes, buf[offset + STATE_OFFSET], flags).copy(buf, offset);
  Buffer.from(bytes).copy(buf, offset + HEADER_BYTES);
  writeFileSync(file, buf);
}

/** Real encoded log batches (the processor's encoder): `n` batches of `size` records, bodies `b<i>`. */
async function encodedBatches(n: number, size: number): Promise<EncodedBatch[]> {
  const out: EncodedBatch[] = [];
  const capture = { exportsEncodedBatches: true as const, export: (b: EncodedBatch, cb: (r: { code: number }) => void) => (out.push(b), cb({ code: 0 })), shutdown: async () => {} };
  const p = new BatchingLogRecordProcessor({ env: {}, exporter: capture, maxExportBatchSize: size, scheduledDelayMillis: 60_000 });
  const { logger } = loggerFor(p);
  for (let i = 0; i < n * size; i++) logger.emit({ body: `b${i}`, severityNumber: SeverityNumber.INFO, attributes: { run: 'gzip-test', seq: i } });
  await p.forceFlush();
  await p.shutdown();
  return out;
}

/** What a dead process of the service left: `batches` appended (asynchronously, so compressed) and written. */
async function leftBehind(dir: string, batches: EncodedBatch[]): Promise<void> {
  const a = newSpill(dir);
  await a.open();
  for (const b of batches) a.append({ signal: 'logs', bytes: b.bytes, records: b.count });
  await written(a, batches.length);
  await a.close();
  markHoldersDead(dir, 'svc');
}

describe('DurableSpill gzip-compressed payloads', () => {
  it('stores compressible batches gzip-compressed (noise as it is), counts the bytes stored, and hands them back as they went in', async () => {
    const dir = tempDir();
    const spill = newSpill(dir);
    await spill.open();
    const raw = Array.from({ length: 20 }, (_, i) => (i === 7 ? payload(i, 4096) : compressible(i, 8192)));
    raw.forEach((bytes, i) => spill.append({ signal: 'logs', bytes, records: 10 + i, priority: i % 3 }));
    await written(spill, raw.length);
    const onDisk = entriesOnDisk(dir);
    expect(onDisk.map((e) => e.flags)).toEqual(raw.map((_, i) => (i === 7 ? 0 : FLAG_GZIP)));
    expect(onDisk[7].payloadLength).toBe(4096);
    for (const e of onDisk.filter((x) => x.flags === FLAG_GZIP)) expect(e.payloadLength).toBeLessThan(8192 / 10);
    const fileBytes = segmentFiles(dir).reduce((n, f) => n + statSync(f).size, 0);
    const s = spill.stats();
    expect(s.written.bytes).toBe(fileBytes);
    expect(s.appended.bytes).toBe(fileBytes);
    expect(s.pending.bytes).toBe(fileBytes);
    expect(s.written.records).toBe(raw.reduce((n, _, i) => n + 10 + i, 0));

    const { ids, batches } = await drain(spill);
    expect(ids).toEqual(raw.map((_, i) => i));
    batches.forEach((b, i) => {
      expect(b.gzip).toBe(i !== 7);
      expect(Buffer.from(b.bytes).equals(Buffer.from(raw[i]))).toBe(true);
    });
    const after = spill.stats();
    expect(after.replayed).toEqual({ batches: 20, records: s.written.records, bytes: fileBytes });
    expect(after.pending).toEqual({ batches: 0, records: 0, bytes: 0 });
    expectBalanced(after);
  });

  it('a batch replayed from memory before its compression ends goes as it is, and is counted at its size', async () => {
    const spill = newSpill(tempDir(), { flushIntervalMillis: 60_000 });
    await spill.open();
    const bytes = compressible(1, 65536);
    spill.append({ signal: 'logs', bytes, records: 5 });
    const seen: Array<{ gzip: boolean; length: number }> = [];
    await spill.replay(async (b) => {
      seen.push({ gzip: b.gzip, length: b.bytes.length });
      await new Promise((r) => setTimeout(r, 50)); // the compression ends meanwhile
      return 'ok';
    });
    expect(seen).toEqual([{ gzip: false, length: 65536 }]);
    const s = spill.stats();
    expect(s.replayed.bytes).toBe(HEADER_BYTES + 65536);
    expect(s.appended.bytes).toBe(HEADER_BYTES + 65536);
    expectBalanced(s);
  });

  it('the exit path (appendSync, flushSync) writes uncompressed, with no wait for the thread pool', async () => {
    const dir = tempDir();
    const spill = newSpill(dir);
    await spill.open();
    spill.append({ signal: 'logs', bytes: compressible(1, 8192), records: 1 }); // its compression just started
    spill.appendSync({ signal: 'logs', bytes: compressible(2, 8192), records: 1 });
    expect(entriesOnDisk(dir).map((e) => [e.flags, e.payloadLength])).toEqual([
      [0, 8192],
      [0, 8192],
    ]);
    expect(spill.stats().written.bytes).toBe(2 * (HEADER_BYTES + 8192));
    await new Promise((r) => setTimeout(r, 50)); // the compression's result is let go
    expect(spill.stats().pending.bytes).toBe(2 * (HEADER_BYTES + 8192));
    expect((await drain(spill)).ids).toEqual([1, 2]);
  });

  it('old-format entries (flags byte 0, as written before compression) still replay, beside compressed ones', async () => {
    const dir = tempDir();
    await leftBehind(dir, [{ bytes: compressible(0, 8192), count: 3 } as EncodedBatch]);
    // the dead process's segment, rewritten as the format before flags wrote it: header byte 7 is 0
    const [file] = segmentFiles(dir);
    const old = [payload(10, 300), compressible(11, 5000)].map((bytes, i) => Buffer.concat([encodeHeader('logs', 0, 20 + i, Date.now() - 1000 + i, bytes), bytes]));
    writeFileSync(file, Buffer.concat([...old, readFileSync(file)]));
    const b = newSpill(dir);
    await b.open();
    const { ids, batches } = await drain(b);
    expect(ids).toEqual([10, 11, 0]);
    expect(batches.map((x) => [x.gzip, x.records])).toEqual([
      [false, 20],
      [false, 21],
      [true, 3],
    ]);
    expect(Buffer.from(batches[1].bytes).equals(Buffer.from(compressible(11, 5000)))).toBe(true);
    expectBalanced(b.stats());
  });

  it('an entry with a flag this reader does not know is skipped whole and counted as corrupt, with its records', async () => {
    const dir = tempDir();
    await leftBehind(dir, [0, 1, 2].map((i) => ({ bytes: compressible(i, 8192), count: 10 + i }) as EncodedBatch));
    const [file] = segmentFiles(dir);
    const e = entriesOnDisk(dir)[1];
    rewriteEntry(file, e.offset, readFileSync(file).subarray(e.offset + HEADER_BYTES, e.offset + HEADER_BYTES + e.payloadLength), FLAG_GZIP | 0x80);
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([0, 2]);
    const s = b.stats();
    expect(s.dropped.corrupt).toMatchObject({ batches: 1, records: 11 });
    expectBalanced(s);
  });

  it('a compressed payload changed on disk fails its checksum: counted as corrupt, the rest replays', async () => {
    const dir = tempDir();
    await leftBehind(dir, [0, 1, 2].map((i) => ({ bytes: compressible(i, 8192), count: 10 + i }) as EncodedBatch));
    const [file] = segmentFiles(dir);
    const e = entriesOnDisk(dir)[0];
    const buf = readFileSync(file);
    buf[e.offset + HEADER_BYTES + 12] ^= 0xff;
    writeFileSync(file, buf);
    const b = newSpill(dir);
    await b.open();
    expect((await drain(b)).ids).toEqual([1, 2]);
    expect(b.stats().dropped.corrupt).toMatchObject({ batches: 1, records: 10 });
    expectBalanced(b.stats());
  });
});

describe('replaying gzip-compressed batches to a collector (loopback)', () => {
  let server: Server;
  let url: string;
  let status = 200;
  const requests: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        requests.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    requests.length = 0;
    status = 200;
  });

  type Logs = { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body: { stringValue: string } }> }> }> };
  const bodies = (j: Logs) => j.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => l.body.stringValue)));
  /** What the collector would decode: the body gunzipped when Content-Encoding says gzip, then protobuf or JSON. */
  const decoded = (r: { headers: IncomingHttpHeaders; body: Buffer }): string[] => {
    const body = r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body;
    return r.headers['content-type'] === 'application/json' ? bodies(JSON.parse(body.toString('utf8'))) : bodies(decodeOtlp('logs', body) as Logs);
  };
  const sum = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);
  const expectAddsUp = (s: ProcessorStats, emitted: number) => expect(s.exported + sum(s.dropped) + s.queued + s.inFlight + s.spilled).toBe(emitted);

  it('http/protobuf: sends the stored bytes as they are, with Content-Encoding: gzip; every record decodes', async () => {
    const dir = tempDir();
    const batches = await encodedBatches(4, 100);
    await leftBehind(dir, batches);
    expect(entriesOnDisk(dir).every((e) => e.flags === FLAG_GZIP)).toBe(true);
    const stored = entriesOnDisk(dir).map((e) => readFileSync(e.file).subarray(e.offset + HEADER_BYTES, e.offset + HEADER_BYTES + e.payloadLength));
    const spill = newExportSpill(dir);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter: new OtlpHttpExporter('logs', { url, env: {} }), spill });
    await spill.open();
    await until(() => p.stats().adoptedExported === 400);
    expect(requests.length).toBe(4);
    for (const [i, r] of requests.entries()) {
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.headers['content-type']).toBe('application/x-protobuf');
      expect(r.body.equals(stored[i])).toBe(true);
    }
    expect(requests.flatMap(decoded)).toEqual(Array.from({ length: 400 }, (_, i) => `b${i}`));
    await p.shutdown();
  });

  it('http/json: gunzips (in the thread pool), then transcodes as for any batch', async () => {
    const dir = tempDir();
    await leftBehind(dir, await encodedBatches(3, 50));
    const spill = newExportSpill(dir);
    const p = new BatchingLogRecordProcessor({ env: {}, exporter: new OtlpHttpExporter('logs', { url, protocol: 'http/json', env: {} }), spill });
    await spill.open();
    await until(() => p.stats().adoptedExported === 150);
    expect(requests.map((r) => [r.headers['content-type'], r.headers['content-encoding']])).toEqual(Array(3).fill(['application/json', undefined]));
    expect(requests.flatMap(decoded)).toEqual(Array.from({ length: 150 }, (_, i) => `b${i}`));
    await p.shutdown();
  });

  it('http/json: a stored gzip payload that passes its checksum but does not gunzip is counted as spill_corrupt, never thrown; the rest arrives', async () => {
    const dir = tempDir();
    const spill = newExportSpill(dir);
    await spill.open();
    status = 503; // the collector refuses: the processor's batches go to the spill
    const p = new BatchingLogRecordProcessor({
      env: {},
      exporter: new OtlpHttpExporter('logs', { url, protocol: 'http/json', env: {} }),
      spill,
      maxExportBatchSize: 50,
      scheduledDelayMillis: 5,
      retryBaseDelayMillis: 20,
    });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 150; i++) logger.emit({ body: `b${i}`, severityNumber: SeverityNumber.INFO, attributes: { run: 'gzip-test', seq: i } });
    await until(() => p.stats().spilled === 150);
    const inner = spill.spill;
    await written(inner, inner.stats().appended.batches);
    const onDisk = entriesOnDisk(dir);
    expect(onDisk.length).toBe(3);
    expect(onDisk.every((e) => e.flags === FLAG_GZIP)).toBe(true);
    // the first batch's payload: not gzip, with checksums that match it
    const bad = onDisk[0];
    rewriteEntry(bad.file, bad.offset, Buffer.alloc(bad.payloadLength, 0x5a), FLAG_GZIP);
    requests.length = 0;
    status = 200;
    for (let i = 150; i < 160; i++) logger.emit({ body: `b${i}`, severityNumber: SeverityNumber.INFO });
    await until(() => p.stats().exported + p.stats().dropped.spill_corrupt === 160, 20_000);
    const s = p.stats();
    expect(s.dropped.spill_corrupt).toBe(bad.records);
    expect(s.exported).toBe(160 - bad.records);
    expect(s.spilled).toBe(0);
    expectAddsUp(s, 160);
    expect(inner.stats().dropped.corrupt).toMatchObject({ batches: 1, records: bad.records });
    expect(new Set(requests.flatMap(decoded)).size).toBe(160 - bad.records);
    await p.shutdown();
  });
});

describe('OtlpHttpExporter.exportGzipped', () => {
  it('is there for http/protobuf only', () => {
    expect(new OtlpHttpExporter('logs', { url: 'http://127.0.0.1:9/v1/logs', env: {} }).exportGzipped).toBeInstanceOf(Function);
    expect(new OtlpHttpExporter('logs', { url: 'http://127.0.0.1:9/v1/logs', protocol: 'http/json', env: {} }).exportGzipped).toBeUndefined();
  });

  it('fails after shutdown, as export() does', async () => {
    const e = new OtlpHttpExporter('logs', { url: 'http://127.0.0.1:9/v1/logs', env: {} });
    await e.shutdown();
    const r = await new Promise<{ code: number }>((res) => e.exportGzipped!({ bytes: Buffer.alloc(4), count: 1 } as EncodedBatch, res));
    expect(r.code).toBe(ExportResultCode.FAILED);
  });
});
