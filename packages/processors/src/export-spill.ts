import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { diag } from '@opentelemetry/api';
import { DurableSpill, type SendOutcome, type SpilledBatch } from './spill/durable-spill';
import type { SpillSignal } from './spill/entry-format';
import type { DurableSpillOptions, SpillDropReason } from './spill/spill-options';
import type { EncodedBatch } from './record-store';
import type { ExportOutcome } from './otlp-http-exporter';

const gunzipAsync = promisify(gunzip);

/** Batches sent per replay slice; the next slice runs from setImmediate, so live traffic keeps flowing. */
export const REPLAY_SLICE_BATCHES = 4;

/** Error codes of a connection that was never made: the request did not leave, nothing can have arrived. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Whether a failed export may have been delivered all the same: no answer at all (undefined:
 * timed out) or a connection lost after it was made. An HTTP answer (`httpStatus`) or a
 * connection never made means it was not; an export in doubt that goes to the spill is
 * appended `uncertain`, and its later delivery counts as a possible duplicate.
 */
export function outcomeUnknown(result: ExportOutcome | undefined): boolean {
  if (result === undefined) return true;
  if (result.httpStatus !== undefined) return false;
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined || !NOT_SENT_CODES.has(code);
}

/** What a processor gives the spill: how to send a replayed batch and where its drops are counted. */
export interface SpillSink {
  /**
   * true: replayBatch takes gzip-compressed batches (SpilledBatch.gzip) and sends them as they
   * are; otherwise they are gunzipped (in the thread pool) before replayBatch sees them.
   */
  acceptsGzip?: boolean;
  /** Sends one replayed batch with the processor's exporter and counts it. */
  replayBatch(batch: SpilledBatch): Promise<SendOutcome>;
  /** A batch the spill let go without sending (spill_full, expired, corrupt, disk_error, rejected). */
  spillDropped(reason: SpillDropReason, records: number, adopted: boolean): void;
}

/**
 * One {@link DurableSpill} shared by the log and span processors of a service: batches are
 * tagged with their signal, and the replay sends each one back through the processor of that
 * signal. The replay runs oldest first, in slices of REPLAY_SLICE_BATCHES, whenever a
 * processor sees the collector accept again (and once after open(), for what dead
 * processes left); a batch that fails stops it until the processor's backoff is over.
 */
export class ExportSpill {
  readonly spill: DurableSpill;
  private readonly sinks = new Map<SpillSignal, SpillSink>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private immediate: NodeJS.Immediate | undefined;
  private running = false;
  private closed = false;

  constructor(options: Omit<DurableSpillOptions, 'onDrop'>) {
    this.spill = new DurableSpill({
      ...options,
      onDrop: (reason, signal, records, adopted) => this.sinks.get(signal)?.spillDropped(reason, records, adopted),
    });
  }

  /** Opens the spill (see DurableSpill.open), then replays what dead processes left. Never rejects. */
  open(): Promise<void> {
    const opened = this.spill.open();
    void opened.then(() => this.replaySoon());
    return opened;
  }

  /** Called by a processor's constructor: replayed batches of `signal` go to `sink`. */
  attach(signal: SpillSignal, sink: SpillSink): void {
    if (this.sinks.has(signal)) throw new Error(`ExportSpill: a processor of ${signal} is attached already`);
    this.sinks.set(signal, sink);
  }

  /** Whether append() takes batches now. */
  available(): boolean {
    return !this.closed && this.spill.available();
  }

  /** Records pending in the spill (all signals, adopted ones included). */
  pendingRecords(): number {
    return this.spill.stats().pending.records;
  }

  /**
   * Hands a batch to the spill; false when it cannot take it (the caller counts its records).
   * `uncertain`: an export of it got no answer (see outcomeUnknown, and SpillBatch.uncertain).
   * `compress` false on exit paths: flushSync() writes it uncompressed anyway, so no gzip job is started.
   */
  append(signal: SpillSignal, batch: EncodedBatch, uncertain = false, compress = true): boolean {
    if (this.closed) return false;
    try {
      return this.spill.append({ signal, bytes: batch.bytes, records: batch.count, priority: batch.maxClass, uncertain }, compress);
    } catch (err) {
      diag.debug('ExportSpill: append failed', err);
      return false;
    }
  }

  /** Writes what is buffered with synchronous calls (exit paths). */
  flushSync(): void {
    try {
      this.spill.flushSync();
    } catch (err) {
      diag.debug('ExportSpill: flushSync failed', err);
    }
  }

  /** Starts a replay slice on the next turn of the event loop. */
  replaySoon(): void {
    if (this.closed || this.immediate !== undefined || this.running) return;
    this.immediate = setImmediate(this.onReplay);
    this.immediate.unref();
  }

  /** Starts a replay after `delayMillis` (a processor's backoff), unless one is due earlier. */
  replayAfter(delayMillis: number): void {
    if (this.closed) return;
    const due = Date.now() + delayMillis;
    if (this.timer !== undefined && this.timerDue <= due) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.replaySoon();
    }, delayMillis);
    this.timer.unref();
  }

  /** Stops replaying and closes the spill; what it holds stays for the next process. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = this.immediate = undefined;
    await this.spill.close();
  }

  private readonly onReplay = (): void => {
    this.immediate = undefined;
    if (this.closed || this.running) return;
    this.running = true;
    this.spill
      .replay(this.send, { maxBatches: REPLAY_SLICE_BATCHES })
      .then(
        (r) => {
          this.running = false;
          if (r.stopped === 'limit') this.replaySoon();
        },
        (err) => {
          this.running = false;
          diag.debug('ExportSpill: replay failed', err);
        },
      );
  };

  private readonly send = async (batch: SpilledBatch): Promise<SendOutcome> => {
    const sink = this.sinks.get(batch.signal);
    if (!sink) {
      // nothing here exports this signal (it was turned off since): counted as rejected
      diag.warn(`ExportSpill: no processor for spilled ${batch.signal} records; ${batch.records} dropped`);
      return 'drop';
    }
    if (batch.gzip && sink.acceptsGzip !== true) {
      let bytes: Uint8Array;
      try {
        bytes = await gunzipAsync(batch.bytes);
      } catch (err) {
        // it passed the checksum, so it was stored that way: no later try can read it
        diag.warn(`ExportSpill: a spilled ${batch.signal} batch does not gunzip (${(err as NodeJS.ErrnoException).code ?? String(err)}); ${batch.records} records dropped`);
        return 'corrupt';
      }
      batch = { ...batch, bytes, gzip: false };
    }
    return sink.replayBatch(batch);
  };
}
