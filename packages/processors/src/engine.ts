import { context, diag, type MeterProvider, type ObservableResult, type Attributes } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RecordStore, recordFieldBytes, type EncodedBatch } from './record-store';
import { ProtoWriter } from './proto-writer';
import type { EncodedBatchExporter } from './encoded-exporter';
import { MAX_TIMER_MILLIS, updateBatchingOptions, type BatchingLimits, type ResolvedBatchingOptions } from './options';
import { outcomeUnknown, type ExportSpill } from './export-spill';
import type { ExportOutcome } from './otlp-http-exporter';
import type { SendOutcome, SpilledBatch } from './spill/durable-spill';
import type { SpillDropReason } from './spill/spill-options';

/** Why a record was not exported. Each record ends exported or dropped for exactly one of these. */
export type DropReason =
  | 'queue_full'
  | 'export_failed'
  | 'export_timeout'
  | 'shutdown'
  | 'below_level'
  /** Its fields could not be read or encoded (a getter that throws...): dropped, never thrown at the caller. */
  | 'unreadable'
  /** Given to the spill, then let go by it (see SpillDropReason): full, too old, corrupt on disk, disk error, refused on replay. */
  | 'spill_full'
  | 'spill_expired'
  | 'spill_corrupt'
  | 'spill_disk_error'
  | 'spill_rejected';

export const DROP_REASONS: readonly DropReason[] = [
  'queue_full',
  'export_failed',
  'export_timeout',
  'shutdown',
  'below_level',
  'unreadable',
  'spill_full',
  'spill_expired',
  'spill_corrupt',
  'spill_disk_error',
  'spill_rejected',
];

const SPILL_DROP: Record<SpillDropReason, DropReason> = {
  spill_full: 'spill_full',
  expired: 'spill_expired',
  corrupt: 'spill_corrupt',
  disk_error: 'spill_disk_error',
  rejected: 'spill_rejected',
};

/**
 * Longest wait between two probes while the collector is down (before jitter). 5 s, the cap of the
 * OTLP exporters' own retries: a probe is one connection attempt, and a collector back from a restart
 * gets what the spill holds within seconds, not half a minute.
 */
export const MAX_BACKOFF_MILLIS = 5_000;
/** Shortest: even with retryBaseDelayMillis 0, a down collector is not hammered. */
const MIN_BACKOFF_MILLIS = 50;
/**
 * With the spill on, an export unanswered for this long means the collector is stalled (a black
 * hole, or far too slow): full batches beyond two then go to the spill instead of piling up in memory.
 */
export const STALLED_EXPORT_MILLIS = 1000;

export interface ProcessorStats {
  /** Records the exporter accepted. */
  exported: number;
  /** Records given up, by reason. */
  dropped: Record<DropReason, number>;
  /** Records held and not yet sent (queued, or waiting for a retry). */
  queued: number;
  /** Records in exports that have not called back yet. */
  inFlight: number;
  /**
   * Records of this process in the spill, not yet replayed (replays in flight included).
   * emitted = exported + every dropped + queued + inFlight + spilled.
   */
  spilled: number;
  /** Records dead processes of the service spilled, replayed by this one (not part of the sum above). */
  adoptedExported: number;
  /** The same, let go by the spill (full, expired, corrupt...). */
  adoptedDropped: number;
  /**
   * Records delivered (counted in exported or adoptedExported) after an earlier export of them
   * got no answer (timed out, in flight at exit, or a process killed between a send and its
   * outcome): each may have arrived twice. An upper bound of the duplicates; not part of the sum.
   */
  possibleDuplicates: number;
}

/** The part of an SDK log-record or span exporter a processor uses. */
export interface BatchExporter<T> {
  export(items: T[], resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/** What the engine reads from every record: the resource and scope it groups by. */
export interface GroupedRecord {
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
}

/**
 * Longest a pump task runs before it yields (setImmediate) with more work due: keeps
 * telemetry from making long tasks on the application's event loop.
 */
export const PUMP_SLICE_MILLIS = 0.1;
/**
 * The same with a backlog (4 batches or more queued): a busy application runs a task of its
 * own between two of ours, and the processor must still drain faster than records arrive.
 * Still below 1 ms.
 */
export const PUMP_BACKLOG_SLICE_MILLIS = 0.8;

/** Longest backoff before a retry, whatever the attempt: 2**attempt must not overflow Node's timer. */
export const MAX_RETRY_DELAY_MILLIS = 30_000;

/** What differs between the log and span paths. */
export interface EngineSignal {
  /** Number of priority classes; class 0 is shed first. */
  classes: number;
  /** 'log' or 'span': used in metric names (otel.sdk.processor.<signal>.*) and warnings. */
  signal: 'log' | 'span';
  /** otel.component.type, e.g. batching_log_processor. */
  componentType: string;
  /** Metric unit, e.g. {log_record}. */
  unit: string;
  /** Writes a record as its OTLP message (LogRecord or Span), without tag or length. */
  encode(writer: ProtoWriter, item: never): void;
  /** Name used in warnings. */
  processorName: string;
}

interface Batch {
  /** The request, sent as it is by every attempt. */
  encoded: EncodedBatch;
  attempt: number;
  /** An export of it has not called back yet; else it waits (to be sent, or for a retry) and can be shed. */
  inFlight?: boolean;
  /** Set while it backs off before a retry. */
  retryTimer?: NodeJS.Timeout;
  /** When its current export started (performance.now()). */
  sentAt?: number;
  /** Taken to the spill at exit (spillSync): a late callback or retry timer ignores it. */
  gone?: boolean;
  /** An export of it failed with no known outcome (see outcomeUnknown): delivered later, it may arrive twice. */
  uncertain?: boolean;
}

/** A resource whose detectors may still be running (ResourceImpl from @opentelemetry/resources). */
interface AsyncResource {
  readonly asyncAttributesPending?: boolean;
  waitForAsyncAttributes?(): Promise<void>;
}

const componentCounter = new Map<string, number>();

/** A timeout argument as a delay Node's timers keep: 0..MAX_TIMER_MILLIS (NaN: 0). */
function timerMillis(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MILLIS) : 0;
}

/** Waits for `p`, but not past `deadline` (ms since the epoch). */
function untilDeadline(p: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timerMillis(deadline - Date.now()));
    timer.unref();
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/**
 * The batching engine behind both processors: a bounded priority queue of encoded records
 * (by count and bytes), batches of up to maxExportBatchSize assembled as ready-to-send
 * requests, up to maxConcurrentExports in flight, retries with backoff, a timeout per
 * export, and an exact count of every record's fate.
 *
 * The hot path is {@link offer}: the record is encoded into a reused buffer and copied into
 * the store, and at most one timer is armed. All other work happens in {@link pump}, which
 * runs from setImmediate, timers and export callbacks, never from the caller of offer, in
 * slices of at most about PUMP_SLICE_MILLIS.
 */
export class BatchingEngine<T extends GroupedRecord> {
  private readonly queue: RecordStore;
  /** Every record is encoded here, then copied into the store. */
  private readonly writer = new ProtoWriter(4096);
  private readonly active = new Set<Batch>();
  private readonly ready: Batch[] = [];
  private readonly waiters: Array<{ target: number; resolve: () => void }> = [];
  private readonly dropped: Record<DropReason, number> = {
    queue_full: 0,
    export_failed: 0,
    export_timeout: 0,
    shutdown: 0,
    below_level: 0,
    unreadable: 0,
    spill_full: 0,
    spill_expired: 0,
    spill_corrupt: 0,
    spill_disk_error: 0,
    spill_rejected: 0,
  };
  private readonly reported: Record<DropReason, number> = { ...this.dropped };
  private exported = 0;
  private inFlightBatches = 0;
  private inFlightRecords = 0;
  /** Records waiting for a retry: they count against the queue's bounds. */
  private retained = 0;
  /** Bytes of the requests of those records (their batches): they count against maxQueueBytes. */
  private retainedBytes = 0;
  /** Records with seq <= flushSeq go out even in partial batches. */
  private flushSeq = -1;
  private immediate: NodeJS.Immediate | undefined;
  private delayTimer: NodeJS.Timeout | undefined;
  private dropWarnTimer: NodeJS.Timeout | undefined;
  private lastDropWarnAt = 0;
  private pumping = false;
  /** What a unit of the pump took lately (moving averages, ms): a slice starts none it cannot finish within its budget. */
  private takeMillis = 0;
  private sendMillis = 0;
  /** Resources whose async attributes are being awaited: no batch is assembled meanwhile. */
  private readonly pendingResources = new Set<Resource>();
  private closed = false;
  private shutdownPromise: Promise<void> | undefined;
  /** Where failed batches go instead of waiting in memory for a retry (attachSpill). */
  private spill: ExportSpill | undefined;
  private spillSignal: 'logs' | 'traces' = 'logs';
  private spilled = 0;
  private adoptedExported = 0;
  private adoptedDropped = 0;
  private possibleDuplicates = 0;
  /** While the collector is down (after a failed export with the spill on): batches go straight to the spill until then. */
  private downUntil = 0;
  private downFailures = 0;

  constructor(
    private readonly exporter: EncodedBatchExporter,
    private options: ResolvedBatchingOptions,
    private readonly signal: EngineSignal,
    meterProvider?: MeterProvider,
  ) {
    this.queue = new RecordStore(signal.classes);
    if (meterProvider) this.registerMetrics(meterProvider);
  }

  /** Hot path: queue one record of priority class `cls`. */
  offer(item: T, cls: number): void {
    if (this.closed) {
      this.drop('shutdown', 1);
      return;
    }
    const q = this.queue;
    const o = this.options;
    if (q.length + this.retained >= o.maxQueueSize && q.countBelow(cls) === 0 && this.lowestWaiting(cls) === undefined) {
      // full, and nothing held below this record's class: refused before it is encoded
      this.drop('queue_full', 1);
      return;
    }
    const w = this.writer;
    w.reset();
    try {
      (this.signal.encode as (w: ProtoWriter, item: T) => void)(w, item);
    } catch (err) {
      // not encodable (a getter that throws...): counted, never thrown at the caller
      diag.debug(`${this.signal.processorName}: record not encodable`, err);
      this.drop('unreadable', 1);
      return;
    }
    const fits = this.makeRoom(cls, recordFieldBytes(w.pos));
    if (fits) q.push(w.buf, w.pos, cls, item.resource, item.instrumentationScope);
    if (w.buf.length > 1 << 20) this.writer.buf = new Uint8Array(4096); // one huge record: don't keep its buffer
    if (!fits) {
      this.drop('queue_full', 1);
      return;
    }
    if ((item.resource as AsyncResource).asyncAttributesPending) this.awaitResource(item.resource);
    if (q.length >= o.maxExportBatchSize) {
      if (this.immediate === undefined && this.inFlightBatches < o.maxConcurrentExports) this.schedulePump();
    } else if (this.delayTimer === undefined) {
      this.armDelayTimer();
    }
  }

  /**
   * Makes room for one more record of class `cls` and `size` bytes within both bounds, by
   * shedding what is held below `cls`, the lowest class first: the oldest queued record of
   * that class, or a whole batch waiting to be sent or retried whose records are all of that
   * class or lower (counted `queue_full`). Sheds nothing and returns false when even shedding
   * everything below `cls` would not make room (a record larger than maxQueueBytes, say).
   */
  private makeRoom(cls: number, size: number): boolean {
    const q = this.queue;
    const o = this.options;
    let overCount = q.length + this.retained + 1 - o.maxQueueSize;
    let overBytes = q.bytes + this.retainedBytes + size - o.maxQueueBytes;
    if (overCount <= 0 && overBytes <= 0) return true;
    let count = q.countBelow(cls);
    let bytes = q.bytesBelow(cls);
    if (this.retained > 0) {
      for (const b of this.active) {
        if (!b.inFlight && b.encoded.maxClass < cls) {
          count += b.encoded.count;
          bytes += b.encoded.bytes.length;
        }
      }
    }
    if (count < overCount || bytes < overBytes) return false;
    while (overCount > 0 || overBytes > 0) {
      const low = q.lowestClass();
      const waiting = this.lowestWaiting(cls);
      if (waiting !== undefined && (low < 0 || low >= cls || waiting.encoded.maxClass < low)) {
        overCount -= waiting.encoded.count;
        overBytes -= waiting.encoded.bytes.length;
        this.shedWaiting(waiting);
      } else if (low >= 0 && low < cls) {
        const before = q.bytes;
        q.shed(low);
        overCount--;
        overBytes -= before - q.bytes;
        this.drop('queue_full', 1);
      } else return false; // not reached: the sums above said there was enough
    }
    return true;
  }

  /**
   * As the SDK's processors do: a resource whose detectors are still running is encoded only
   * once its attributes have settled (or after exportTimeoutMillis, with what it has). The
   * wait starts in a microtask, off the caller's path; batches are assembled after it.
   */
  private awaitResource(resource: Resource): void {
    const r = resource as AsyncResource;
    if (this.pendingResources.has(resource) || typeof r.waitForAsyncAttributes !== 'function') return;
    this.pendingResources.add(resource);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        diag.warn(`${this.signal.processorName}: resource attributes still pending after ${this.options.exportTimeoutMillis} ms; exporting without them`);
        resolve();
      }, this.options.exportTimeoutMillis);
      timer.unref();
    });
    const settled = Promise.resolve().then(() => r.waitForAsyncAttributes!());
    Promise.race([settled, gaveUp])
      .catch((err: unknown) => diag.debug(`${this.signal.processorName}: resource attributes failed`, err))
      .then(() => {
        clearTimeout(timer);
        this.pendingResources.delete(resource);
        this.pump();
      });
  }

  /** The waiting batch (not in flight) of the lowest class below `cls`, the oldest of ties. */
  private lowestWaiting(cls: number): Batch | undefined {
    if (this.retained === 0) return undefined;
    let best: Batch | undefined;
    for (const b of this.active) {
      const e = b.encoded;
      if (b.inFlight || e.maxClass >= cls) continue;
      if (!best || e.maxClass < best.encoded.maxClass || (e.maxClass === best.encoded.maxClass && e.minSeq < best.encoded.minSeq)) best = b;
    }
    return best;
  }

  /** Drops a waiting batch to make room: its records count as queue_full. */
  private shedWaiting(b: Batch): void {
    if (b.retryTimer !== undefined) {
      clearTimeout(b.retryTimer);
      b.retryTimer = undefined;
    } else {
      const i = this.ready.indexOf(b);
      if (i >= 0) this.ready.splice(i, 1);
    }
    this.active.delete(b);
    this.retained -= b.encoded.count;
    this.retainedBytes -= b.encoded.bytes.length;
    this.drop('queue_full', b.encoded.count);
    this.resolveWaiters();
  }

  /**
   * Changes limits while running (e.g. from a reloaded config file). A smaller queue
   * keeps what it holds and refuses new records until it is below the new bound.
   * Throws InvalidOptionError, changing nothing, when a value is invalid.
   */
  setOptions(patch: BatchingLimits): void {
    this.options = updateBatchingOptions(this.options, patch);
    this.pump();
  }

  /** The options in force. */
  getOptions(): Readonly<ResolvedBatchingOptions> {
    return this.options;
  }

  /** Counts records refused before they reached the queue (below the level floor). */
  dropBelowLevel(count = 1): void {
    this.dropped.below_level += count;
  }

  /** Counts a record that could not be read before it reached the queue (the SDK threw creating it). */
  dropUnreadable(): void {
    this.drop('unreadable', 1);
  }

  /** Share of the queue's bounds in use, 0..1 (the larger of count and bytes). */
  queueFill(): number {
    // An outage is not load: with the spill taking them, batches waiting on a failed collector don't count.
    const spilling = this.spill?.available() === true;
    const byCount = (spilling ? this.queue.length : this.queue.length + this.retained) / this.options.maxQueueSize;
    const byBytes = (spilling ? this.queue.bytes : this.queue.bytes + this.retainedBytes) / this.options.maxQueueBytes;
    return byCount > byBytes ? byCount : byBytes;
  }

  stats(): ProcessorStats {
    return {
      exported: this.exported,
      dropped: { ...this.dropped },
      queued: this.queue.length + this.retained,
      inFlight: this.inFlightRecords,
      spilled: this.spilled,
      adoptedExported: this.adoptedExported,
      adoptedDropped: this.adoptedDropped,
      possibleDuplicates: this.possibleDuplicates,
    };
  }

  /**
   * Resolves once every record offered before the call is exported or counted as
   * dropped, or after `timeoutMillis` (default forceFlushTimeoutMillis) with those
   * records still held. Partial batches are sent at once; concurrency and timeouts still apply.
   */
  forceFlush(timeoutMillis: number = this.options.forceFlushTimeoutMillis): Promise<void> {
    const target = this.queue.nextSeq - 1;
    if (this.oldestUnsettled() > target) return Promise.resolve();
    if (target > this.flushSeq) this.flushSeq = target;
    return new Promise<void>((resolve) => {
      const waiter = { target, resolve };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      }, timerMillis(timeoutMillis));
      timer.unref();
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(waiter);
      this.pump();
    });
  }

  /**
   * Sends what is held (batches backing off before a retry go once more, at once), then
   * shuts the exporter down, all within `timeoutMillis` (default shutdownTimeoutMillis):
   * records still queued or in flight by then count as `shutdown`. Idempotent: later calls
   * return the same promise. Records offered after the call count as `shutdown`.
   */
  shutdown(timeoutMillis: number = this.options.shutdownTimeoutMillis): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.closed = true;
    const deadline = Date.now() + timerMillis(timeoutMillis);
    for (const b of this.active) {
      if (b.retryTimer === undefined) continue;
      clearTimeout(b.retryTimer);
      b.retryTimer = undefined;
      this.ready.push(b);
    }
    this.shutdownPromise = this.forceFlush(deadline - Date.now())
      .then(() => {
        this.abandon();
        return untilDeadline(this.exporter.shutdown(), deadline);
      })
      .finally(() => {
        if (this.delayTimer) clearTimeout(this.delayTimer);
        if (this.immediate) clearImmediate(this.immediate);
        this.delayTimer = undefined;
        this.immediate = undefined;
        this.warnDrops();
      });
    return this.shutdownPromise;
  }

  /** Counts every record still held (queued, waiting or in flight) as `shutdown`; late callbacks are ignored. */
  private abandon(): void {
    // with a spill, what shutdown could not send goes to disk for the next process, not lost
    if (this.spill?.available()) this.spillSync();
    const q = this.queue;
    const queued = q.length;
    for (let c = q.lowestClass(); c >= 0; c = q.lowestClass()) q.shed(c);
    let held = queued;
    for (const b of this.active) {
      if (b.retryTimer !== undefined) clearTimeout(b.retryTimer);
      held += b.encoded.count;
    }
    this.active.clear();
    this.ready.length = 0;
    this.retained = this.retainedBytes = 0;
    this.inFlightBatches = this.inFlightRecords = 0;
    if (held > 0) this.drop('shutdown', held);
    this.resolveWaiters();
  }

  /**
   * The next pump slice, on the next turn of the event loop. Not unref'd: an unref'd immediate
   * waits for an unrelated event to wake a quiet loop (seconds, with nothing else going on).
   * It holds the process only for CPU work the pump can do at once (taking and handing over at
   * most maxConcurrentExports batches, a few ms), never for an export in flight.
   */
  private schedulePump(): void {
    this.immediate = setImmediate(this.onImmediate);
  }

  private readonly onImmediate = (): void => {
    this.immediate = undefined;
    this.pump();
  };

  private armDelayTimer(): void {
    this.delayTimer = setTimeout(this.onDelay, this.options.scheduledDelayMillis);
    this.delayTimer.unref();
  }

  private readonly onDelay = (): void => {
    this.delayTimer = undefined;
    // Everything queued now has waited long enough (or nearly): send it in partial batches.
    const target = this.queue.nextSeq - 1;
    if (target > this.flushSeq) this.flushSeq = target;
    this.pump();
  };

  /** A batch should be taken: the queue holds a full one, or a record that must go now (delay passed, flush). */
  private due(): boolean {
    const q = this.queue;
    return q.length >= this.options.maxExportBatchSize || (q.length > 0 && q.oldestSeq() <= this.flushSeq);
  }

  /**
   * Works in units, each short: send a ready batch (a new one, or a retry whose backoff is
   * over), or take the next batch from the queue (assembling its request). The first unit
   * always runs; another starts only if the task, having run so far plus what such a unit took
   * lately, stays within PUMP_SLICE_MILLIS (PUMP_BACKLOG_SLICE_MILLIS with a backlog), else
   * the rest waits for the next setImmediate: neither assembly nor sending adds a long task to
   * the application's event loop. Never re-entered.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const o = this.options;
      const q = this.queue;
      const start = performance.now();
      const budget = q.length >= 4 * o.maxExportBatchSize ? PUMP_BACKLOG_SLICE_MILLIS : PUMP_SLICE_MILLIS;
      for (let units = 0; ; units++) {
        const canSend = this.ready.length > 0 && this.inFlightBatches < o.maxConcurrentExports;
        const canTake =
          !canSend && this.inFlightBatches + this.ready.length < o.maxConcurrentExports && this.pendingResources.size === 0 && this.due();
        if (!canSend && !canTake) break;
        const unitStart = performance.now();
        // a unit starts only if it should end within the budget: a slice ends near it, not a unit past it
        if (units > 0 && unitStart - start + (canSend ? this.sendMillis : this.takeMillis) > budget) {
          if (this.immediate === undefined) this.schedulePump();
          break;
        }
        if (canSend) {
          const batch = this.ready.shift()!;
          this.retained -= batch.encoded.count;
          this.retainedBytes -= batch.encoded.bytes.length;
          if (this.spillWhileDown(batch)) continue;
          this.send(batch);
          this.sendMillis += (performance.now() - unitStart - this.sendMillis) / 4;
        } else {
          const batch: Batch = { encoded: q.take(o.maxExportBatchSize)!, attempt: 1 };
          this.active.add(batch);
          this.retained += batch.encoded.count; // held, not yet in flight
          this.retainedBytes += batch.encoded.bytes.length;
          this.ready.push(batch);
          this.takeMillis += (performance.now() - unitStart - this.takeMillis) / 4;
        }
      }
      if (this.spill !== undefined) this.overflowToSpill();
      if (q.length > 0 && this.delayTimer === undefined && !this.closed) this.armDelayTimer();
    } finally {
      this.pumping = false;
    }
    this.resolveWaiters();
  }

  private send(batch: Batch): void {
    batch.inFlight = true;
    this.inFlightBatches++;
    this.inFlightRecords += batch.encoded.count;
    batch.sentAt = performance.now();
    let done = false;
    const timer = setTimeout(() => {
      if (done || batch.gone || !this.active.has(batch)) return; // not active: counted by shutdown
      done = true;
      batch.inFlight = false;
      if (!this.spillFailed(batch, undefined)) this.settle(batch, 'export_timeout');
    }, this.options.exportTimeoutMillis);
    timer.unref();
    const callback = (result: ExportResult): void => {
      if (done || batch.gone || !this.active.has(batch)) return;
      done = true;
      batch.inFlight = false;
      clearTimeout(timer);
      if (result.code === ExportResultCode.SUCCESS) {
        this.collectorUp();
        this.settle(batch, undefined);
      } else if (!this.spillFailed(batch, result)) {
        if (outcomeUnknown(result)) batch.uncertain = true;
        this.failed(batch, result.error);
      }
    };
    try {
      const returned = this.exportAttempt(batch, callback);
      // an async export() that throws: a failure, not an unhandled rejection
      if (returned !== undefined && typeof (returned as PromiseLike<unknown>).then === 'function') {
        (returned as PromiseLike<unknown>).then(undefined, (err: unknown) => callback({ code: ExportResultCode.FAILED, error: err as Error }));
      }
    } catch (err) {
      if (!done) {
        done = true;
        batch.inFlight = false;
        clearTimeout(timer);
        this.failed(batch, err);
      }
    }
  }

  /** Returns what export() returned: a promise, from an async exporter. */
  private exportAttempt(batch: Batch, callback: (result: ExportResult) => void): unknown {
    // The exporter's own requests must not be traced (as the SDK's processors do).
    return context.with(suppressTracing(context.active()), this.exporter.export, this.exporter, batch.encoded, callback);
  }

  private failed(batch: Batch, error: unknown): void {
    // After shutdown() there is no time for backoff: a failure is final.
    if (batch.attempt >= this.options.maxExportAttempts || this.closed) {
      diag.debug(`${this.signal.processorName}: export failed after ${batch.attempt} attempts`, error);
      this.settle(batch, 'export_failed');
      return;
    }
    batch.inFlight = false;
    this.inFlightBatches--;
    this.inFlightRecords -= batch.encoded.count;
    this.retained += batch.encoded.count;
    this.retainedBytes += batch.encoded.bytes.length;
    // Exponential backoff with full jitter.
    const delay = Math.random() * Math.min(MAX_RETRY_DELAY_MILLIS, this.options.retryBaseDelayMillis * 2 ** (batch.attempt - 1));
    batch.attempt++;
    batch.retryTimer = setTimeout(() => {
      batch.retryTimer = undefined;
      if (batch.gone) return;
      this.ready.push(batch);
      this.pump();
    }, delay);
    batch.retryTimer.unref();
    this.pump();
  }

  // ---- the durable spill (issue 8) ----

  /** Failed batches go to `spill` from now on; replayed batches of this signal come back through here. */
  attachSpill(spill: ExportSpill): void {
    this.spill = spill;
    this.spillSignal = this.signal.signal === 'log' ? 'logs' : 'traces';
    spill.attach(this.spillSignal, {
      acceptsGzip: this.exporter.exportGzipped !== undefined,
      replayBatch: (b) => this.replayBatch(b),
      spillDropped: (reason, records, adopted) => {
        if (adopted) this.adoptedDropped += records;
        else {
          this.spilled -= records;
          this.drop(SPILL_DROP[reason], records);
        }
      },
    });
  }

  /**
   * At exit (process 'exit', after the flush deadline): every record still queued, waiting
   * for a retry or in flight is written to the spill with synchronous calls, so that the next
   * process of the service sends it. A batch in flight may then arrive twice (counted by the
   * receiver as a duplicate, never lost). Returns the records written; later records count
   * as `shutdown`. Without a spill it does nothing.
   */
  spillSync(): number {
    const spill = this.spill;
    if (!spill) return 0;
    this.closed = true;
    let moved = 0;
    for (const batch of [...this.active]) {
      const n = batch.encoded.count;
      // in flight: sent, no answer yet; it may arrive, and arrive again from the spill
      if (!spill.append(this.spillSignal, batch.encoded, batch.inFlight === true || batch.uncertain === true, false)) continue;
      batch.gone = true;
      this.active.delete(batch);
      if (batch.inFlight) {
        this.inFlightBatches--;
        this.inFlightRecords -= n;
      } else {
        this.retained -= n;
        this.retainedBytes -= batch.encoded.bytes.length;
        if (batch.retryTimer) clearTimeout(batch.retryTimer);
        const i = this.ready.indexOf(batch);
        if (i >= 0) this.ready.splice(i, 1);
      }
      this.spilled += n;
      moved += n;
    }
    while (this.queue.length > 0) {
      const encoded = this.queue.take(this.options.maxExportBatchSize)!;
      if (spill.append(this.spillSignal, encoded, false, false)) {
        this.spilled += encoded.count;
        moved += encoded.count;
      } else this.drop('shutdown', encoded.count);
    }
    spill.flushSync();
    this.resolveWaiters();
    return moved;
  }

  /** A failed export (result undefined: timed out) with the spill on: the batch goes to the spill. */
  private spillFailed(batch: Batch, result: ExportOutcome | undefined): boolean {
    const spill = this.spill;
    if (!spill || result?.retryable === false) return false;
    this.collectorDown(result);
    if (!spill.available() || !spill.append(this.spillSignal, batch.encoded, outcomeUnknown(result))) return false;
    const n = batch.encoded.count;
    this.inFlightBatches--;
    this.inFlightRecords -= n;
    this.active.delete(batch);
    this.spilled += n;
    this.pump();
    return true;
  }

  /** While the collector is down, a batch due to be sent goes to the spill without an attempt. */
  private spillWhileDown(batch: Batch): boolean {
    const spill = this.spill;
    if (!spill || Date.now() >= this.downUntil || !spill.available()) return false;
    if (!spill.append(this.spillSignal, batch.encoded)) return false;
    this.active.delete(batch);
    this.spilled += batch.encoded.count;
    return true;
  }

  /**
   * Every export slot taken by exports unanswered for STALLED_EXPORT_MILLIS: full batches beyond
   * two go to the spill (replayed once exports succeed again), so that a stalled collector fills
   * neither memory nor the queue (which would raise the adaptive level floor).
   */
  private overflowToSpill(): void {
    const o = this.options;
    const q = this.queue;
    if (this.inFlightBatches < o.maxConcurrentExports || q.length < 3 * o.maxExportBatchSize) return;
    const stalledBefore = performance.now() - STALLED_EXPORT_MILLIS;
    for (const b of this.active) if (b.inFlight && b.sentAt !== undefined && b.sentAt > stalledBefore) return;
    const spill = this.spill!;
    while (q.length >= 3 * o.maxExportBatchSize && spill.available()) {
      const encoded = q.take(o.maxExportBatchSize)!;
      if (spill.append(this.spillSignal, encoded)) this.spilled += encoded.count;
      else this.drop('export_failed', encoded.count); // taken from the queue: counted, never lost
    }
  }

  /**
   * Backs off after a failure: Retry-After when the collector gave one, else exponential
   * (from retryBaseDelayMillis up to MAX_BACKOFF_MILLIS) with jitter; the spill's replay
   * probes the collector again once it is over.
   */
  private collectorDown(result: ExportOutcome | undefined): void {
    // exports that were under way together fail together: one outage, one step of backoff
    const now = Date.now();
    if (now < this.downUntil && result?.retryAfterMillis === undefined) return;
    const failures = ++this.downFailures;
    let delay = result?.retryAfterMillis;
    if (delay === undefined) {
      const base = Math.max(this.options.retryBaseDelayMillis, MIN_BACKOFF_MILLIS);
      const exp = Math.min(MAX_BACKOFF_MILLIS, base * 2 ** Math.min(failures - 1, 20));
      delay = exp / 2 + (Math.random() * exp) / 2;
    }
    this.downUntil = Math.max(this.downUntil, now + delay);
    this.spill?.replayAfter(this.downUntil - now);
  }

  /** An export succeeded: the collector is back; replay what the spill holds. */
  private collectorUp(): void {
    if (!this.spill) return;
    this.downFailures = 0;
    this.downUntil = 0;
    if (this.spill.pendingRecords() > 0) this.spill.replaySoon();
  }

  /** Sends one batch the spill replays, with this processor's exporter and export timeout. */
  private replayBatch(b: SpilledBatch): Promise<SendOutcome> {
    if (this.closed) return Promise.resolve('retry');
    const wait = this.downUntil - Date.now();
    if (wait > 5) {
      // still backing off: the replay comes back then (another signal's timer may have started it)
      this.spill?.replayAfter(wait);
      return Promise.resolve('retry');
    }
    const n = b.records;
    const encoded: EncodedBatch = { bytes: Buffer.from(b.bytes), count: n, minSeq: -1, minClass: b.priority, maxClass: b.priority, scopes: [] };
    return new Promise<SendOutcome>((resolve) => {
      let done = false;
      const finish = (result: ExportOutcome | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (result?.code === ExportResultCode.SUCCESS) {
          if (b.uncertain) this.possibleDuplicates += n;
          if (b.adopted) this.adoptedExported += n;
          else {
            this.spilled -= n;
            this.exported += n;
          }
          this.collectorUp();
          resolve('ok');
        } else if (result?.retryable === false) {
          resolve('drop'); // counted through onDrop as spill_rejected
        } else {
          this.collectorDown(result);
          resolve(outcomeUnknown(result) ? 'unknown' : 'retry');
        }
      };
      const timer = setTimeout(() => finish(undefined), this.options.exportTimeoutMillis);
      timer.unref();
      try {
        // gzip: stored compressed by the spill, sent as it is (acceptsGzip above)
        const send = b.gzip ? this.exporter.exportGzipped! : this.exporter.export;
        context.with(suppressTracing(context.active()), send, this.exporter, encoded, finish);
      } catch (err) {
        diag.debug(`${this.signal.processorName}: replayed export threw`, err);
        finish({ code: ExportResultCode.FAILED, error: err as Error });
      }
    });
  }

  private settle(batch: Batch, reason: DropReason | undefined): void {
    const n = batch.encoded.count;
    batch.inFlight = false;
    this.inFlightBatches--;
    this.inFlightRecords -= n;
    this.active.delete(batch);
    if (reason === undefined) {
      this.exported += n;
      if (batch.uncertain) this.possibleDuplicates += n;
    } else this.drop(reason, n);
    this.pump();
  }

  private oldestUnsettled(): number {
    let min = this.queue.oldestSeq();
    for (const b of this.active) if (b.encoded.minSeq < min) min = b.encoded.minSeq;
    return min;
  }

  private resolveWaiters(): void {
    if (this.waiters.length === 0) return;
    const oldest = this.oldestUnsettled();
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w.target < oldest) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private drop(reason: DropReason, count: number): void {
    this.dropped[reason] += count;
    if (this.dropWarnTimer === undefined) {
      const wait = Math.max(0, this.lastDropWarnAt + this.options.dropWarningIntervalMillis - Date.now());
      this.dropWarnTimer = setTimeout(this.onDropWarn, wait);
      this.dropWarnTimer.unref();
    }
  }

  private readonly onDropWarn = (): void => {
    this.dropWarnTimer = undefined;
    this.warnDrops();
  };

  /** One diag warning with the drops since the last one: drops are never silent. */
  private warnDrops(): void {
    let total = 0;
    const parts: string[] = [];
    for (const r of DROP_REASONS) {
      const n = this.dropped[r] - this.reported[r];
      if (n > 0) {
        total += n;
        parts.push(`${r}: ${n}`);
        this.reported[r] = this.dropped[r];
      }
    }
    if (total === 0) return;
    this.lastDropWarnAt = Date.now();
    diag.warn(`${this.signal.processorName} dropped ${total} ${this.signal.signal} records (${parts.join(', ')})`);
  }

  private registerMetrics(meterProvider: MeterProvider): void {
    const { signal, componentType, unit } = this.signal;
    const n = componentCounter.get(componentType) ?? 0;
    componentCounter.set(componentType, n + 1);
    const base: Attributes = {
      'otel.component.type': componentType,
      'otel.component.name': `${componentType}/${n}`,
    };
    const byReason = Object.fromEntries(DROP_REASONS.map((r) => [r, { ...base, "error.type": r }])) as unknown as Record<
      DropReason,
      Attributes
    >;
    const meter = meterProvider.getMeter('@ccr/otel-processors');
    const processed = meter.createObservableCounter(`otel.sdk.processor.${signal}.processed`, {
      unit,
      description: `The number of ${signal} records for which processing has finished, exported or dropped (error.type says why).`,
    });
    const size = meter.createObservableUpDownCounter(`otel.sdk.processor.${signal}.queue.size`, {
      unit,
      description: 'Records held in the queue.',
    });
    const capacity = meter.createObservableUpDownCounter(`otel.sdk.processor.${signal}.queue.capacity`, {
      unit,
      description: 'Most records the queue can hold.',
    });
    processed.addCallback((r: ObservableResult) => {
      r.observe(this.exported, base);
      for (const reason of DROP_REASONS) r.observe(this.dropped[reason], byReason[reason]);
    });
    size.addCallback((r: ObservableResult) => r.observe(this.queue.length + this.retained, base));
    meter
      .createObservableCounter(`ccr.processor.${signal}.possible_duplicates`, {
        unit,
        description: 'Records delivered after an earlier export of them got no answer: each may have arrived twice.',
      })
      .addCallback((r: ObservableResult) => r.observe(this.possibleDuplicates, base));
    capacity.addCallback((r: ObservableResult) => r.observe(this.options.maxQueueSize, base));
  }
}
