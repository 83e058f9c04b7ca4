import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportOutcome, OtlpPoster } from './otlp-http-exporter';
import type { SendRequest, SendResult } from './send-worker-thread';

/** Buffers kept for copies: as many as an exporter has in flight by default (maxConcurrentExports), about 2 MiB at most. */
const MAX_FREE_BUFFERS = 16;

/** Unexpected ends of the worker before exports stay on the main thread for good. */
const MAX_CRASHES = 3;

/** A worker nothing was sent through for this long ends (its ~12 MiB of RSS given back); the next send starts another. */
export const SEND_WORKER_IDLE_MILLIS = 10_000;

/**
 * The compiled worker script. From the sources (tests run them through a transpiler) it is the
 * built one next to them: the worker itself runs plain JavaScript.
 */
function workerScript(): string {
  const here = join(__dirname, 'send-worker-thread.js');
  return existsSync(here) ? here : join(__dirname, '..', 'dist', 'send-worker-thread.js');
}

/**
 * One worker thread per process that does OtlpHttpExporters' HTTP work (JSON transcoding,
 * gzip, the request and its answer) off the main thread. It is unref'd: it never keeps the
 * process alive, and ends with it (an export in flight then is what spillSync() or the
 * engine's counts account for, as with a socket on the main thread). A batch's bytes are
 * copied and the copy transferred: the engine keeps its own for retries and the spill.
 * If the worker cannot start, sends stay on the main thread; if it dies, the exports in
 * flight fail (retryable) and the next send starts another.
 */
export class SendWorker {
  private static instance: SendWorker | undefined;
  private static unavailable = false;
  /** Workers that ended without being asked to: after MAX_CRASHES, sends stay on the main thread. */
  private static crashes = 0;

  private readonly worker: Worker;
  private readonly pending = new Map<number, (r: ExportOutcome) => void>();
  /** Posters the worker knows, by the id it knows them by. */
  private readonly posterIds = new WeakMap<OtlpPoster, number>();
  private nextPoster = 0;
  private nextId = 0;
  private lastUse = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private gone = false;
  private online = false;
  /** Buffers the worker gave back after a successful send: the next copies go into them (no allocation, no GC pressure). */
  private readonly free: ArrayBuffer[] = [];

  /** The process's worker, started on first use; undefined when workers cannot run here. */
  static shared(): SendWorker | undefined {
    if (SendWorker.unavailable) return undefined;
    if (!SendWorker.instance) {
      try {
        SendWorker.instance = new SendWorker();
      } catch (err) {
        SendWorker.unavailable = true;
        diag.warn('OtlpHttpExporter: no send worker (exports stay on the main thread)', err);
        return undefined;
      }
    }
    return SendWorker.instance;
  }

  /** An exporter shut down: the worker closes its sockets. */
  static closePoster(poster: OtlpPoster): void {
    const w = SendWorker.instance;
    const id = w?.posterIds.get(poster);
    if (w === undefined || id === undefined) return;
    w.posterIds.delete(poster);
    w.worker.postMessage({ type: 'close', poster: id } satisfies SendRequest);
  }

  private constructor() {
    this.worker = new Worker(workerScript());
    this.worker.once('online', () => (this.online = true));
    this.worker.on('message', (m: SendResult) => {
      const cb = this.pending.get(m.id);
      if (!cb) return;
      this.pending.delete(m.id);
      this.lastUse = performance.now();
      if (m.buffer !== undefined && this.free.length < MAX_FREE_BUFFERS) this.free.push(m.buffer);
      const r: ExportOutcome = { code: m.code };
      if (m.error !== undefined) r.error = new Error(m.error);
      if (m.retryAfterMillis !== undefined) r.retryAfterMillis = m.retryAfterMillis;
      if (m.retryable !== undefined) r.retryable = m.retryable;
      cb(r);
    });
    this.worker.on('error', (err) => {
      diag.warn('OtlpHttpExporter: send worker failed', err);
      // it never came up (a bundle without the script...): stay on the main thread from now on
      if (!this.online) SendWorker.unavailable = true;
    });
    this.worker.on('exit', () => this.exited());
    // after the listeners: adding a 'message' listener refs the worker again
    this.worker.unref();
  }

  /**
   * Sends `bytes` through `poster`'s settings in the worker; `cb` is called once. false when the
   * worker is gone (the caller sends on the main thread).
   */
  send(poster: OtlpPoster, bytes: Uint8Array, cb: (r: ExportOutcome) => void): boolean {
    if (this.gone) return false;
    let pid = this.posterIds.get(poster);
    const copy = new Uint8Array(this.buffer(bytes.length), 0, bytes.length);
    copy.set(bytes);
    const msg: SendRequest = { type: 'send', id: this.nextId++, poster: pid ?? this.nextPoster, bytes: copy };
    if (pid === undefined) {
      pid = this.nextPoster++;
      this.posterIds.set(poster, pid);
      msg.setup = { signal: poster.signal, options: poster.options };
    }
    this.pending.set(msg.id, cb);
    this.lastUse = performance.now();
    this.worker.postMessage(msg, [msg.bytes.buffer as ArrayBuffer]);
    this.armIdleTimer();
    return true;
  }

  /** A buffer of at least `n` bytes: a free one, else a new one (a power of two from 64 KiB). */
  private buffer(n: number): ArrayBuffer {
    const free = this.free;
    for (let i = free.length - 1; i >= 0; i--) {
      if (free[i].byteLength >= n) {
        const b = free[i];
        free[i] = free[free.length - 1];
        free.pop();
        return b;
      }
    }
    let size = 65536;
    while (size < n) size *= 2;
    return new ArrayBuffer(size);
  }

  private armIdleTimer(): void {
    if (this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(this.onIdleCheck, SEND_WORKER_IDLE_MILLIS);
    this.idleTimer.unref();
  }

  private readonly onIdleCheck = (): void => {
    this.idleTimer = undefined;
    const idle = performance.now() - this.lastUse;
    if (this.pending.size === 0 && idle >= SEND_WORKER_IDLE_MILLIS) {
      this.retire();
      void this.worker.terminate();
    } else this.armIdleTimer();
  };

  /** No more sends through this worker: the next one starts another. */
  private retire(): void {
    this.gone = true;
    if (SendWorker.instance === this) SendWorker.instance = undefined;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private exited(): void {
    if (!this.gone && ++SendWorker.crashes >= MAX_CRASHES) {
      SendWorker.unavailable = true;
      diag.warn(`OtlpHttpExporter: the send worker ended ${MAX_CRASHES} times; exports stay on the main thread`);
    }
    this.retire();
    if (this.pending.size === 0) return;
    const error = new Error('OtlpHttpExporter: the send worker exited with exports in flight');
    const cbs = [...this.pending.values()];
    this.pending.clear();
    for (const cb of cbs) cb({ code: ExportResultCode.FAILED, error });
  }
}
