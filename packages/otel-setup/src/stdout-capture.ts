// the module object itself (not an import namespace copy), so that patching reaches every caller
const fs = require('node:fs') as typeof import('node:fs');
import { context, ROOT_CONTEXT, SeverityNumber, trace } from '@opentelemetry/api';
import type { Attributes, Context, Logger } from '@opentelemetry/api';
import { REDACTED, redactor } from './redact';

/**
 * Opt-in (CCR_OTEL_CAPTURE_STDOUT=true): JSON lines a (bundled) pino writes to stdout become log
 * records with the mapped severity and the trace context (the line's trace_id/span_id, else the
 * active context when the line is the only one in a synchronous write, i.e. written by the call that
 * logged it); every other line passes through untouched, and so does
 * a pino line below the level in force (it would not become a record).
 *
 * Both paths to fd 1 are covered: process.stdout.write and fs.write/fs.writeSync(1, …) (pino's
 * sonic-boom destination). Only plain writes are looked at: a whole string (utf8) or buffer, as pino
 * writes them; a write with an offset, length, position or another encoding passes through as it
 * is. A write is looked at only if it starts with '{' (or continues an unfinished line), a line is
 * parsed only if it holds `"level":`. Lines are split on bytes (a '\n' never occurs inside a UTF-8
 * sequence), so text split across writes is never re-encoded. An unfinished line is held briefly
 * (until its end arrives, a 20 ms timer, stop() or process exit), then written out as it is.
 */
export const PINO_LEVELS: Record<number, [SeverityNumber, string]> = {
  10: [SeverityNumber.TRACE, 'TRACE'],
  20: [SeverityNumber.DEBUG, 'DEBUG'],
  30: [SeverityNumber.INFO, 'INFO'],
  40: [SeverityNumber.WARN, 'WARN'],
  50: [SeverityNumber.ERROR, 'ERROR'],
  60: [SeverityNumber.FATAL, 'FATAL'],
};
const NAMED: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, warning: 40, error: 50, fatal: 60 };

export function pinoSeverity(level: unknown): [SeverityNumber, string] | undefined {
  let n: number | undefined;
  if (typeof level === 'number') n = level;
  else if (typeof level === 'string') n = NAMED[level.toLowerCase()];
  if (n === undefined) return undefined;
  const exact = PINO_LEVELS[n];
  if (exact) return exact;
  // custom pino levels: nearest lower standard one
  const k = Math.max(10, Math.min(60, Math.floor(n / 10) * 10));
  return PINO_LEVELS[k];
}

const SKIP = new Set(['level', 'time', 'msg', 'message', 'pid', 'hostname', 'v', 'trace_id', 'span_id', 'trace_flags']);

/** Nested objects become JSON text: values under secret keys are replaced on the way (the rest is scanned by the log processor). */
function scrubReplacer(key: string, value: unknown): unknown {
  return key && typeof value !== 'boolean' && value !== null && redactor.isSecretKey(key) ? REDACTED : value;
}

export interface StdoutCaptureOptions {
  logger: Logger;
  /** Also write captured lines to the real stdout. Default false. */
  tee?: boolean;
  /** How long an unfinished line waits for its end before it is written out as it is. Default 20 ms. */
  holdMillis?: number;
}

type WriteFn = (...args: unknown[]) => boolean;
type Captured = [Record<string, unknown>, [SeverityNumber, string], Context];

const NL = 0x0a;
const BRACE = 0x7b;
const MAX_PENDING = 1 << 20;

/** One destination's unfinished line. */
interface Channel {
  pending: Buffer | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Writes held bytes out, unchanged. */
  out: (b: Buffer) => void;
}

const isUtf8 = (e: unknown) => e === undefined || e === null || e === 'utf8' || e === 'utf-8' || e === 'UTF-8' || e === 'UTF8';

export class StdoutCapture {
  private readonly logger: Logger & { enabled?: (o: { severityNumber: SeverityNumber; context?: Context }) => boolean };
  private readonly tee: boolean;
  private readonly holdMillis: number;
  private origWrite: WriteFn | undefined;
  private origFsWrite: typeof fs.write | undefined;
  private origFsWriteSync: typeof fs.writeSync | undefined;
  private readonly stream: Channel;
  private readonly fd: Channel;
  private inside = false;
  private readonly onExit = () => this.flushPending();
  captured = 0;
  /** Writes whose processing failed: they went out untouched. */
  failures = 0;

  constructor(opts: StdoutCaptureOptions) {
    this.logger = opts.logger;
    this.tee = opts.tee ?? false;
    this.holdMillis = opts.holdMillis ?? 20;
    this.stream = { pending: undefined, timer: undefined, out: (b) => void this.origWrite?.call(process.stdout, b) };
    this.fd = {
      pending: undefined,
      timer: undefined,
      out: (b) => {
        try {
          writeAllSync(this.origFsWriteSync ?? fs.writeSync, 1, b);
        } catch {
          /* stdout gone */
        }
      },
    };
  }

  start(): void {
    if (this.origWrite) return;
    const out = process.stdout; // create the stream before fs is patched
    const self = this;
    const origWrite = (this.origWrite = out.write as unknown as WriteFn);
    out.write = function (this: NodeJS.WriteStream, chunk: unknown, encOrCb?: unknown, cb?: unknown): boolean {
      const enc = typeof encOrCb === 'function' ? undefined : encOrCb;
      const callback = (typeof encOrCb === 'function' ? encOrCb : cb) as ((e?: Error | null) => void) | undefined;
      const done = self.inside || !isUtf8(enc) ? undefined : self.guarded(chunk, self.stream, true);
      if (done === undefined) return origWrite.apply(this, arguments as unknown as unknown[]);
      const { pass, records, same } = done;
      let r = true;
      if (same) r = origWrite.apply(this, arguments as unknown as unknown[]);
      else if (pass.length) r = origWrite.call(this, pass, callback);
      else if (callback) process.nextTick(callback);
      self.emitAll(records);
      return r;
    } as typeof out.write;

    const origSync = (this.origFsWriteSync = fs.writeSync);
    (fs as { writeSync: unknown }).writeSync = function (fd: number, data: unknown, ...rest: unknown[]): number {
      const plain = fd === 1 && !self.inside && plainArgs(rest);
      const saved = self.fd.pending;
      const done = plain ? self.guarded(data, self.fd, true) : undefined;
      if (done === undefined) return (origSync as (...a: unknown[]) => number).apply(fs, [fd, data, ...rest]);
      const { pass, records, same } = done;
      if (same) {
        // nothing captured or held: the original call, with its own (possibly partial) result
        const n = (origSync as (...a: unknown[]) => number).apply(fs, [fd, data, ...rest]);
        return n;
      }
      const total = typeof data === 'string' ? Buffer.byteLength(data) : (data as Uint8Array).byteLength;
      if (pass.length) {
        try {
          writeAllSync(origSync, fd, pass);
        } catch (e) {
          // nothing written: the caller retries the whole chunk, so undo what this call did
          self.fd.pending = saved;
          throw e;
        }
      }
      self.emitAll(records);
      return total;
    };

    const origAsync = (this.origFsWrite = fs.write);
    (fs as { write: unknown }).write = function (fd: number, data: unknown, ...rest: unknown[]): void {
      const cb = rest[rest.length - 1] as (err: Error | null, n?: number, b?: unknown) => void;
      const plain = fd === 1 && !self.inside && typeof cb === 'function' && plainArgs(rest.slice(0, -1));
      const done = plain ? self.guarded(data, self.fd, false) : undefined;
      if (done === undefined) return (origAsync as (...a: unknown[]) => void).apply(fs, [fd, data, ...rest]);
      const { pass, records, same } = done;
      self.emitAll(records);
      if (same) return (origAsync as (...a: unknown[]) => void).apply(fs, [fd, data, ...rest]);
      const total = typeof data === 'string' ? Buffer.byteLength(data) : (data as Uint8Array).byteLength;
      if (pass.length === 0) {
        process.nextTick(cb, null, total, data);
        return;
      }
      writeAllAsync(origAsync, fd, pass, (err) => cb(err, err ? 0 : total, data));
    };
    process.on('exit', this.onExit);
  }

  stop(): void {
    if (!this.origWrite) return;
    this.flushPending();
    process.removeListener('exit', this.onExit);
    process.stdout.write = this.origWrite as unknown as typeof process.stdout.write;
    (fs as { writeSync: unknown }).writeSync = this.origFsWriteSync;
    (fs as { write: unknown }).write = this.origFsWrite;
    this.origWrite = undefined;
  }

  /** Writes out held unfinished lines as they are. */
  flushPending(): void {
    for (const ch of [this.stream, this.fd]) this.release(ch);
  }

  private release(ch: Channel): void {
    if (ch.timer) clearTimeout(ch.timer);
    ch.timer = undefined;
    const p = ch.pending;
    ch.pending = undefined;
    if (p && p.length) ch.out(p);
  }

  /**
   * process() of a chunk that may hold a JSON line; undefined tells the caller to make the original
   * call with the original arguments: a chunk to pass straight through, or any failure (never thrown
   * into the app's write; the held bytes then go out as they are).
   */
  private guarded(chunk: unknown, ch: Channel, sync: boolean): ReturnType<StdoutCapture['process']> | undefined {
    try {
      const buf = this.asBuffer(chunk, ch);
      return buf === undefined ? undefined : this.process(buf, ch, sync);
    } catch {
      this.failures++;
      try {
        this.release(ch);
      } catch {
        ch.pending = undefined;
      }
      return undefined;
    }
  }

  /** The chunk as bytes when it may hold a JSON line; undefined to pass it straight through. */
  private asBuffer(chunk: unknown, ch: Channel): Buffer | undefined {
    if (typeof chunk === 'string') {
      if (ch.pending === undefined && chunk.charCodeAt(0) !== BRACE) return undefined;
      return Buffer.from(chunk, 'utf8');
    }
    if (chunk instanceof Uint8Array) {
      if (ch.pending === undefined && chunk[0] !== BRACE) return undefined;
      return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    return undefined;
  }

  /**
   * Splits held + new bytes into lines; captured lines become records (returned, emitted by the
   * caller after the write), the rest is returned to pass through. `same`: the output is exactly the
   * input (nothing held before or now, nothing captured), so the original call can be made.
   */
  process(chunk: Buffer, ch: Channel, sync: boolean): { pass: Buffer; records: Captured[]; same: boolean } {
    const held = ch.pending;
    const buf = held ? Buffer.concat([held, chunk]) : chunk;
    if (held) {
      if (ch.timer) clearTimeout(ch.timer);
      ch.timer = undefined;
      ch.pending = undefined;
    }
    const records: Captured[] = [];
    const parts: Buffer[] = [];
    // The active context belongs to a line only when the line was written by the call that logged
    // it: one whole line in one synchronous write. A buffered or async destination writes lines of
    // other requests from whatever callback flushes it: such lines keep only their own trace_id.
    const writeContext = sync && !held && buf.indexOf(NL) === buf.length - 1 ? context.active() : ROOT_CONTEXT;
    let start = 0;
    let dropped = false;
    for (;;) {
      const nl = buf.indexOf(NL, start);
      if (nl < 0) break;
      const line = buf.subarray(start, nl + 1);
      start = nl + 1;
      const rec = this.parseLine(line, writeContext);
      if (rec) {
        records.push(rec);
        if (this.tee) parts.push(line);
        else dropped = true;
      } else parts.push(line);
    }
    let holding = false;
    if (start < buf.length) {
      const rest = buf.subarray(start);
      // an unfinished JSON line waits (briefly, bounded) for its end; anything else goes out now
      if (rest[0] === BRACE && rest.length < MAX_PENDING) {
        ch.pending = Buffer.from(rest); // a copy: the caller may reuse its buffer
        holding = true;
        ch.timer = setTimeout(() => this.release(ch), this.holdMillis);
        ch.timer.unref();
      } else parts.push(rest);
    }
    const same = !held && !holding && !dropped;
    const pass = same ? buf : parts.length === 1 ? parts[0] : Buffer.concat(parts);
    return { pass, records, same };
  }

  /** A pino line that would become a record (level known and enabled), or undefined. */
  private parseLine(line: Buffer, writeContext: Context): Captured | undefined {
    if (line[0] !== BRACE || line.indexOf('"level":') < 0) return undefined;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    if (typeof obj !== 'object' || obj === null || !('level' in obj)) return undefined;
    const sev = pinoSeverity(obj.level);
    if (!sev) return undefined;
    let ctx = writeContext;
    if (typeof obj.trace_id === 'string' && typeof obj.span_id === 'string') {
      const flags = typeof obj.trace_flags === 'string' ? parseInt(obj.trace_flags, 16) : 1;
      ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: obj.trace_id, spanId: obj.span_id, traceFlags: flags || 0, isRemote: true });
    }
    // below the level in force: not a record, so the line stays on stdout
    const l = this.logger;
    if (l.enabled && !l.enabled({ severityNumber: sev[0], context: ctx })) return undefined;
    return [obj, sev, ctx];
  }

  private emitAll(records: Captured[]): void {
    if (!records.length) return;
    this.inside = true;
    try {
      for (const r of records) {
        this.captured++;
        try {
          this.emit(r);
        } catch {
          /* never break the app's output */
        }
      }
    } finally {
      this.inside = false;
    }
  }

  /** Test helper: processes text as one write to process.stdout; returns what would pass through. */
  processText(text: string): { pass: string; pending: string } {
    const { pass, records } = this.process(Buffer.from(text, 'utf8'), this.stream, true);
    this.emitAll(records);
    if (this.stream.timer) clearTimeout(this.stream.timer);
    this.stream.timer = undefined;
    return { pass: pass.toString('utf8'), pending: this.stream.pending?.toString('utf8') ?? '' };
  }

  private emit([obj, [severityNumber, severityText], ctx]: Captured): void {
    const attributes: Attributes = { 'log.iostream': 'stdout' };
    for (const key of Object.keys(obj)) {
      if (SKIP.has(key)) continue;
      const v = obj[key];
      if (v === null || v === undefined) continue;
      // long values are cut by the log processor (maxValueBytes, attributeValueLengthLimit): at a character boundary, counted
      if (typeof v === 'string') attributes[key] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') attributes[key] = v;
      else {
        const s = JSON.stringify(v, scrubReplacer);
        if (s !== undefined) attributes[key] = s;
      }
    }
    const msg = obj.msg ?? obj.message;
    this.logger.emit({
      severityNumber,
      severityText,
      body: typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg),
      attributes,
      timestamp: typeof obj.time === 'number' ? obj.time : undefined,
      context: ctx,
    });
  }
}

/** Only `(fd, data)`, `(fd, data, 'utf8')` or `(fd, data, null|undefined, 'utf8')` (what sonic-boom uses). */
function plainArgs(rest: unknown[]): boolean {
  if (rest.length === 0) return true;
  if (rest.length === 1) return typeof rest[0] === 'string' ? isUtf8(rest[0]) : rest[0] === undefined || rest[0] === null;
  if (rest.length === 2) return (rest[0] === undefined || rest[0] === null) && isUtf8(rest[1]);
  return false;
}

/** Writes every byte (a pipe may take part of a write); retries briefly on EAGAIN once some went out. */
function writeAllSync(write: typeof fs.writeSync, fd: number, b: Buffer): void {
  let off = 0;
  let again = 0;
  while (off < b.length) {
    try {
      off += write(fd, b, off, b.length - off);
    } catch (e) {
      if (off === 0 || (e as NodeJS.ErrnoException).code !== 'EAGAIN' || ++again > 1000) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

function writeAllAsync(write: typeof fs.write, fd: number, b: Buffer, done: (err: Error | null) => void): void {
  write(fd, b, 0, b.length, null, (err, n) => {
    if (err) return done(err);
    if (n < b.length) return writeAllAsync(write, fd, b.subarray(n), done);
    done(null);
  });
}
