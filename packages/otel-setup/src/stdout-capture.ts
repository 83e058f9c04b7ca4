// the module object itself (not an import namespace copy), so that patching reaches every caller
const fs = require('node:fs') as typeof import('node:fs');
import { context, ROOT_CONTEXT, SeverityNumber, trace } from '@opentelemetry/api';
import type { Attributes, Context, Logger } from '@opentelemetry/api';
import { isSecretName } from './redact';

/**
 * Opt-in (CCR_OTEL_CAPTURE_STDOUT=true): JSON lines a (bundled) pino writes to stdout become log
 * records with the mapped severity and the trace context (the line's trace_id/span_id, else the
 * active context when the line is written); every other line passes through untouched.
 *
 * Both paths to fd 1 are covered: process.stdout.write and fs.write/fs.writeSync(1, …) (pino's
 * sonic-boom destination). A line is looked at only if it starts with '{'.
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
const MAX_VALUE = 2048;

function scrubReplacer(key: string, value: unknown): unknown {
  return key && isSecretName(key) ? undefined : value;
}

export interface StdoutCaptureOptions {
  logger: Logger;
  /** Also write captured lines to the real stdout. Default false. */
  tee?: boolean;
}

type WriteFn = (...args: unknown[]) => boolean;

export class StdoutCapture {
  private readonly logger: Logger;
  private readonly tee: boolean;
  private pendingStream = '';
  private pendingFd = '';
  private origWrite: WriteFn | undefined;
  private origFsWrite: typeof fs.write | undefined;
  private origFsWriteSync: typeof fs.writeSync | undefined;
  private inside = false;
  captured = 0;

  constructor(opts: StdoutCaptureOptions) {
    this.logger = opts.logger;
    this.tee = opts.tee ?? false;
  }

  start(): void {
    if (this.origWrite) return;
    const out = process.stdout; // create the stream before fs is patched
    const self = this;
    this.origWrite = out.write as unknown as WriteFn;
    const origWrite = this.origWrite;
    out.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      if (self.inside) return origWrite.call(this, chunk, ...rest);
      const text = self.asText(chunk, self.pendingStream);
      if (text === undefined) return origWrite.call(this, chunk, ...rest);
      const { pass, pending } = self.process(text);
      self.pendingStream = pending;
      const cb = rest.find((x) => typeof x === 'function') as ((e?: Error | null) => void) | undefined;
      if (pass === '') {
        if (cb) process.nextTick(cb);
        return true;
      }
      return origWrite.call(this, pass, cb);
    } as typeof out.write;

    this.origFsWriteSync = fs.writeSync;
    const origSync = this.origFsWriteSync;
    (fs as { writeSync: unknown }).writeSync = function (fd: number, data: unknown, ...rest: unknown[]): number {
      if (fd !== 1 || self.inside) return (origSync as (...a: unknown[]) => number)(fd, data, ...rest);
      const text = self.asText(data, self.pendingFd);
      if (text === undefined) return (origSync as (...a: unknown[]) => number)(fd, data, ...rest);
      const total = typeof data === 'string' ? Buffer.byteLength(data) : (data as Buffer).length;
      const { pass, pending } = self.process(text);
      self.pendingFd = pending;
      if (pass !== '') origSync(fd, pass);
      return total;
    };
    this.origFsWrite = fs.write;
    const origAsync = this.origFsWrite;
    (fs as { write: unknown }).write = function (fd: number, data: unknown, ...rest: unknown[]): void {
      if (fd !== 1 || self.inside) return (origAsync as (...a: unknown[]) => void)(fd, data, ...rest);
      const cb = rest[rest.length - 1] as (err: Error | null, n?: number, b?: unknown) => void;
      const text = typeof cb === 'function' ? self.asText(data, self.pendingFd) : undefined;
      if (text === undefined) return (origAsync as (...a: unknown[]) => void)(fd, data, ...rest);
      const total = typeof data === 'string' ? Buffer.byteLength(data) : (data as Buffer).length;
      const { pass, pending } = self.process(text);
      self.pendingFd = pending;
      if (pass === '') {
        process.nextTick(cb, null, total, data);
        return;
      }
      (origAsync as (...a: unknown[]) => void)(fd, pass, (err: Error | null) => cb(err, err ? 0 : total, data));
    };
  }

  stop(): void {
    if (!this.origWrite) return;
    process.stdout.write = this.origWrite as unknown as typeof process.stdout.write;
    (fs as { writeSync: unknown }).writeSync = this.origFsWriteSync;
    (fs as { write: unknown }).write = this.origFsWrite;
    this.origWrite = undefined;
  }

  /** The chunk as text when it may hold a JSON line; undefined to pass it straight through. */
  private asText(chunk: unknown, pending: string): string | undefined {
    if (typeof chunk === 'string') {
      if (pending === '' && chunk.charCodeAt(0) !== 123) return undefined;
      return pending + chunk;
    }
    if (chunk instanceof Uint8Array) {
      if (pending === '' && chunk[0] !== 123) return undefined;
      return pending + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
    }
    return undefined;
  }

  /** Splits text into lines; captured lines are emitted, the rest returned to pass through. */
  process(text: string): { pass: string; pending: string } {
    let pass = '';
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const line = text.slice(start, nl + 1);
      start = nl + 1;
      if (!this.captureLine(line) || this.tee) pass += line;
    }
    let pending = '';
    if (start < text.length) {
      const rest = text.slice(start);
      // an unfinished JSON line waits for its end (bounded); anything else goes out now
      if (rest.charCodeAt(0) === 123 && rest.length < 1 << 20) pending = rest;
      else pass += rest;
    }
    return { pass, pending };
  }

  /** true when the line was a pino JSON line and became a log record. */
  captureLine(line: string): boolean {
    if (line.charCodeAt(0) !== 123) return false;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return false;
    }
    if (typeof obj !== 'object' || obj === null || !('level' in obj)) return false;
    const sev = pinoSeverity(obj.level);
    if (!sev) return false;
    this.captured++;
    this.inside = true;
    try {
      this.emit(obj, sev);
    } catch {
      /* never break the app's output */
    } finally {
      this.inside = false;
    }
    return true;
  }

  private emit(obj: Record<string, unknown>, [severityNumber, severityText]: [SeverityNumber, string]): void {
    const logger = this.logger as Logger & { enabled?: (o: { severityNumber: SeverityNumber; context?: Context }) => boolean };
    let ctx: Context = context.active();
    if (typeof obj.trace_id === 'string' && typeof obj.span_id === 'string') {
      const flags = typeof obj.trace_flags === 'string' ? parseInt(obj.trace_flags, 16) : 1;
      ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: obj.trace_id, spanId: obj.span_id, traceFlags: flags || 0, isRemote: true });
    }
    if (logger.enabled && !logger.enabled({ severityNumber, context: ctx })) return;
    const attributes: Attributes = { 'log.iostream': 'stdout' };
    for (const key of Object.keys(obj)) {
      if (SKIP.has(key) || isSecretName(key)) continue;
      const v = obj[key];
      if (v === null || v === undefined) continue;
      if (typeof v === 'string') attributes[key] = v.length > MAX_VALUE ? v.slice(0, MAX_VALUE) : v;
      else if (typeof v === 'number' || typeof v === 'boolean') attributes[key] = v;
      else {
        const s = JSON.stringify(v, scrubReplacer);
        if (s !== undefined) attributes[key] = s.length > MAX_VALUE ? s.slice(0, MAX_VALUE) : s;
      }
    }
    const msg = obj.msg ?? obj.message;
    logger.emit({
      severityNumber,
      severityText,
      body: typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg),
      attributes,
      timestamp: typeof obj.time === 'number' ? obj.time : undefined,
      context: ctx,
    });
  }
}
