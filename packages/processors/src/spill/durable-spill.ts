import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { constants as zlibConstants, gzip } from 'node:zlib';
import { diag } from '@opentelemetry/api';
import {
  FLAG_GZIP,
  HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
  SIGNALS,
  STATE_ACKED,
  STATE_DROPPED,
  STATE_OFFSET,
  STATE_PENDING,
  STATE_TRIED,
  decodeHeader,
  encodeHeader,
  payloadIntact,
  scanSegment,
  type SpillSignal,
} from './entry-format';
import { LOCK_FILE, encodeLock, lockHolderDead, ownLock, parseLock, pidGone } from './process-lock';
import { EntryQueue, EntryState, type Entry, type Segment, type SpillDir, type WriteJob } from './spill-index';
import {
  SPILL_DROP_REASONS,
  resolveDurableSpillOptions,
  type DurableSpillOptions,
  type ResolvedDurableSpillOptions,
  type SpillDropReason,
} from './spill-options';

/** A batch handed to the spill: opaque encoded bytes and what shedding needs to know. */
export interface SpillBatch {
  signal: SpillSignal;
  /** The encoded request. Kept by reference until written: the caller must not change it. */
  bytes: Uint8Array;
  records: number;
  /** Priority class, 0-255 (the batch's highest record class): the lowest is shed first. Default 0. */
  priority?: number;
  /**
   * An attempt to send it got no answer (timed out, or still in flight as the process exits):
   * it may have arrived already. Written as 'tried'; delivered later, it counts in possibleDuplicates.
   */
  uncertain?: boolean;
}

/** A batch as the replay hands it back. */
export interface SpilledBatch {
  signal: SpillSignal;
  /** Valid until the promise returned by send settles (the buffer is reused for the next batch). */
  bytes: Uint8Array;
  records: number;
  priority: number;
  /** When it was appended, ms since the epoch. */
  createdAt: number;
  /** Appended by an earlier (dead) process of the service, not by this one. */
  adopted: boolean;
  /** An earlier send's outcome is unknown: if this one delivers it, it may arrive twice. */
  uncertain: boolean;
  /**
   * `bytes` is the encoded batch gzip-compressed (as append() stored it): send it as it is,
   * with `Content-Encoding: gzip`, or gunzip it (answer 'corrupt' when that fails).
   */
  gzip: boolean;
}

/**
 * What a replay's send answers: 'ok' (delivered: removed from the spill), 'retry' (not
 * delivered, not now: kept, the replay stops), 'unknown' (no answer: kept, the replay stops,
 * and a later delivery counts as a possible duplicate), 'drop' (refused for good: removed
 * and counted as `rejected`) or 'corrupt' (its bytes passed the checksum but cannot be read,
 * e.g. a gzip payload that does not gunzip: removed and counted as `corrupt`).
 */
export type SendOutcome = 'ok' | 'retry' | 'unknown' | 'drop' | 'corrupt';

export interface ReplayResult {
  /** Batches and records delivered ('ok'). */
  sentBatches: number;
  sentRecords: number;
  /** Why the replay stopped. */
  stopped: 'empty' | 'retry' | 'limit' | 'busy' | 'closed';
}

export interface SpillCounter {
  batches: number;
  records: number;
  bytes: number;
}

export interface SpillStats {
  /** False while the spill cannot write (not open, closed, or backing off after a disk error). */
  available: boolean;
  /** Accepted by append() (a batch shed at once counts here and in dropped.spill_full). */
  appended: SpillCounter;
  /** Written to disk. */
  written: SpillCounter;
  /** Found pending in the directories of dead processes. */
  adopted: SpillCounter;
  /** Delivered by a replay. */
  replayed: SpillCounter;
  /**
   * Part of replayed: delivered after an earlier send whose outcome is unknown (appended
   * uncertain, a replay answered 'unknown', or marked 'tried' by a dead process killed
   * between a send and its answer or its 'A' mark). Each may have arrived twice: an upper
   * bound of the duplicates, never a loss.
   */
  possibleDuplicates: SpillCounter;
  /** Held now, in memory or on disk. */
  pending: SpillCounter;
  /** Let go without being sent, per reason (corrupt regions whose header was unreadable count as a batch of 0 records). */
  dropped: Record<SpillDropReason, SpillCounter>;
  /** Failed disk operations (each also makes the spill unavailable for a while). */
  diskErrors: number;
}

/** How long appends are refused after a disk error before writing is tried again. */
const DISK_RETRY_MILLIS = 10_000;
/** Entries per write call (each is two buffers; IOV_MAX is 1024 on Linux). */
const ENTRIES_PER_WRITE = 256;
/**
 * Payloads compressed at once (each in the thread pool, which has 4 threads by default and
 * also runs the spill's file operations and the exporters' gzip).
 */
const MAX_COMPRESSIONS = 2;
/**
 * gzip level of the stored payloads: encoded OTLP batches repeat their keys and values, and
 * level 1 gets most of what level 6 gets at a fraction of the thread pool's time (README, Durable spill).
 */
const GZIP_LEVEL = zlibConstants.Z_BEST_SPEED;
/** Smaller payloads are stored as they are: gzip's 18 bytes of framing eat what it saves, and a round trip to the thread pool costs more. */
const MIN_COMPRESS_BYTES = 1024;
const SEGMENT_NAME = /^segment-(\d{12})\.spill$/;
const ADOPTED_PREFIX = 'adopted-';

const STATE_BYTE: Record<number, Uint8Array> = {
  [STATE_ACKED]: Uint8Array.of(STATE_ACKED),
  [STATE_DROPPED]: Uint8Array.of(STATE_DROPPED),
  [STATE_TRIED]: Uint8Array.of(STATE_TRIED),
  [STATE_PENDING]: Uint8Array.of(STATE_PENDING),
};

const openAsync = promisify(fs.open);
const writeAsync = promisify(fs.write);
const readAsync = promisify(fs.read);
const notSending = (e: Entry) => !e.sending;
/** A function, not an inline test: the state changes across the awaits of a replay. */
const isGone = (e: Entry) => e.state === EntryState.Gone;

function writeJob(segment: Segment): WriteJob {
  let resolveSettled!: () => void;
  const settled = new Promise<void>((r) => (resolveSettled = r));
  return { segment, position: segment.size, entries: [], buffers: [], done: false, settled, resolveSettled };
}

function counter(): SpillCounter {
  return { batches: 0, records: 0, bytes: 0 };
}

function add(c: SpillCounter, e: { records: number; payloadLength: number }): void {
  c.batches++;
  c.records += e.records;
  c.bytes += HEADER_BYTES + e.payloadLength;
}

function sub(c: SpillCounter, e: { records: number; payloadLength: number }): void {
  c.batches--;
  c.records -= e.records;
  c.bytes -= HEADER_BYTES + e.payloadLength;
}

/** Whether `e` comes from a dead process's directory (a buffered entry, with no segment yet, is ours). */
function isAdopted(e: { segment?: Segment }): boolean {
  return e.segment !== undefined && !e.segment.dir.own;
}

/** A directory name made of a service name. */
export function serviceDirName(serviceName: string): string {
  const s = serviceName.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  return s === '.' || s === '..' ? '_' : s;
}

let instances = 0;

/**
 * mkdir -p that gives up: Node's recursive mkdirSync never returns for a path under /proc
 * (mkdir there fails with ENOENT even after the parent exists, and it retries forever).
 */
function makeDirs(path: string): void {
  try {
    fs.mkdirSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && fs.statSync(path).isDirectory()) return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw e;
    makeDirs(parent);
    fs.mkdirSync(path);
  }
}

/**
 * A bounded on-disk queue of encoded batches that survives the process.
 *
 * Lifecycle: `open()` takes a directory of its own (`<dir>/<service>/<pid>-<start>-<n>/`
 * with a lock naming this process), then adopts the directories of dead processes of the
 * same service. `append()` buffers a batch in memory and gzip-compresses it in the thread
 * pool; a timer (unref'd) writes the buffer (what is compressed by then) with asynchronous fs
 * calls every flushIntervalMillis. `flushSync()` writes it all at once, as it is, for exit
 * paths. `replay(send)` hands batches back oldest first (as stored: see SpilledBatch.gzip)
 * and removes each only once `send` says it was delivered. `close()` writes what is buffered and releases the files;
 * a directory that still holds batches is left for the next process of the service.
 *
 * Nothing here throws into the host: a failed disk operation is counted, the batches it
 * concerned are counted as `disk_error`, and appends are refused (`append()` returns false,
 * `stats().available` is false) for a while, so the caller counts those records itself.
 */
export class DurableSpill {
  readonly options: ResolvedDurableSpillOptions;
  private readonly serviceDir: string;
  private ownName = '';
  private own: SpillDir | undefined;
  private readonly adopted = new Set<SpillDir>();
  private active: Segment | undefined;
  private segmentSeq = 0;

  private buffered: Entry[] = [];
  /** Buffered entries waiting for a compression slot, oldest first, and the compressions running. */
  private toCompress: Entry[] = [];
  private compressions = 0;
  private readonly order = new EntryQueue();
  /** Per priority class, oldest first: shedding takes the first of the lowest class. */
  private readonly byPriority = new Map<number, EntryQueue>();
  /** State bytes being written asynchronously (flushSync writes them again, synchronously). */
  private readonly marking = new Map<Entry, number>();
  /** Writes assigned a place in a segment and not yet settled, in order. */
  private queued: WriteJob[] = [];
  private writing = false;

  private phase: 'new' | 'open' | 'closed' = 'new';
  private opened: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private availableAfter = 0;
  private replaying = false;
  /** Reused for every read: a fresh 100 KB buffer per batch costs the event loop GC pauses. */
  private readBuffer = Buffer.alloc(0);
  /** Async fs operations in flight, and who waits for there to be none. */
  private io = 0;
  private idleWaiters: Array<() => void> = [];

  private readonly counts = {
    appended: counter(),
    written: counter(),
    adopted: counter(),
    replayed: counter(),
    possibleDuplicates: counter(),
    pending: counter(),
    dropped: Object.fromEntries(SPILL_DROP_REASONS.map((r) => [r, counter()])) as Record<SpillDropReason, SpillCounter>,
    diskErrors: 0,
  };

  constructor(options: DurableSpillOptions) {
    this.options = resolveDurableSpillOptions(options);
    this.serviceDir = join(this.options.dir, serviceDirName(this.options.serviceName));
  }

  /**
   * Takes this process's directory (synchronously: appends are accepted as soon as this
   * returns), starts the flush timer, then adopts and indexes the directories of dead
   * processes; the promise resolves once that is done. Never rejects.
   */
  open(): Promise<void> {
    if (this.phase !== 'new') return this.opened;
    this.phase = 'open';
    this.createOwnDir();
    this.timer = setInterval(() => this.tick(), this.options.flushIntervalMillis);
    this.timer.unref();
    // A directory that cannot be adopted stays where it is; it does not stop our own appends.
    this.opened = this.own ? this.adoptDeadDirs().catch((e) => this.adoptionFailure(e)) : Promise.resolve();
    return this.opened;
  }

  /**
   * Takes `batch` for later delivery. Returns false when the spill cannot take it (not open,
   * closed, or unavailable after a disk error): the caller then counts its records. Once it
   * returns true the spill accounts for the batch: it is replayed or counted through onDrop
   * (it may be shed at once, as `spill_full`, when everything held has a higher priority).
   */
  append(batch: SpillBatch, compress = true): boolean {
    return this.appendEntry(batch, compress);
  }

  /** append() then flushSync(): for exit paths, where no asynchronous write would complete (stored uncompressed). */
  appendSync(batch: SpillBatch): boolean {
    const accepted = this.appendEntry(batch, false);
    this.flushSync();
    return accepted;
  }

  /**
   * `compress`: the payload is gzip-compressed in the thread pool before it is written (the
   * asynchronous flush waits for it); the counts hold its uncompressed size until then.
   */
  private appendEntry(batch: SpillBatch, compress: boolean): boolean {
    const priority = batch.priority ?? 0;
    if (!SIGNALS.includes(batch.signal)) throw new TypeError(`signal must be one of ${SIGNALS.join(', ')}, got ${JSON.stringify(batch.signal)}`);
    if (!(batch.bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    if (!Number.isInteger(batch.records) || batch.records < 0 || batch.records > 0xffff_ffff) throw new TypeError(`records must be a uint32, got ${batch.records}`);
    if (!Number.isInteger(priority) || priority < 0 || priority > 255) throw new TypeError(`priority must be an integer in [0, 255], got ${priority}`);
    if (batch.bytes.byteLength > MAX_PAYLOAD_BYTES) throw new TypeError(`bytes must be at most ${MAX_PAYLOAD_BYTES} long`);
    if (!this.acceptsWrites()) return false;

    const createdAt = Date.now();
    const uncertain = batch.uncertain === true;
    const entry: Entry = {
      state: EntryState.Buffered,
      signal: batch.signal,
      records: batch.records,
      priority,
      createdAt,
      payloadLength: batch.bytes.byteLength,
      flags: 0,
      compressing: false,
      header: undefined,
      bytes: batch.bytes,
      segment: undefined,
      offset: 0,
      sending: false,
      finalState: STATE_PENDING,
      tried: uncertain,
      uncertain,
      job: undefined,
    };
    add(this.counts.appended, entry);
    if (!this.makeRoom(HEADER_BYTES + entry.payloadLength, priority)) {
      this.count('spill_full', entry);
      return true;
    }
    this.track(entry);
    this.buffered.push(entry);
    if (compress && entry.payloadLength >= MIN_COMPRESS_BYTES) {
      entry.compressing = true;
      this.toCompress.push(entry);
      this.compressNext();
    }
    return true;
  }

  /** Starts compressions while slots are free. */
  private compressNext(): void {
    while (this.compressions < MAX_COMPRESSIONS && this.toCompress.length > 0) {
      const e = this.toCompress.shift()!;
      if (!e.compressing || e.state !== EntryState.Buffered) continue; // written as it is meanwhile, or gone
      this.compressions++;
      this.io++;
      gzip(e.bytes!, { level: GZIP_LEVEL }, (err, zipped) => {
        this.compressions--;
        this.compressed(e, err ? undefined : zipped);
        this.compressNext();
        this.ioDone();
      });
    }
  }

  /**
   * A compression is over: a still-buffered entry takes the compressed payload (when smaller),
   * and the counts that hold it shrink by the bytes saved. A failed compression leaves it as it is.
   */
  private compressed(e: Entry, zipped: Buffer | undefined): void {
    if (!e.compressing) return;
    e.compressing = false;
    if (e.state !== EntryState.Buffered || e.sending || !zipped || zipped.length >= e.payloadLength) return;
    const saved = e.payloadLength - zipped.length;
    this.counts.appended.bytes -= saved;
    this.counts.pending.bytes -= saved;
    e.payloadLength = zipped.length;
    e.flags = FLAG_GZIP;
    e.bytes = zipped;
  }

  /**
   * Writes every buffered batch now, with synchronous calls (and writes again, at the same
   * place, what asynchronous writes still hold, state marks included: the process may exit
   * before they run, and a lost 'A' mark would have a successor send a delivered batch again).
   */
  flushSync(): void {
    this.queued.push(...this.assignBuffered(true));
    for (const job of [...this.queued]) {
      if (job.done) continue;
      let written = 0;
      let err: Error | null = null;
      try {
        written = fs.writevSync(job.segment.fd, job.buffers, job.position);
      } catch (e) {
        err = e as Error;
      }
      this.completeWrite(job, err, written);
    }
    for (const [e, state] of this.marking) {
      const fd = e.segment!.fd;
      if (fd < 0) continue;
      try {
        fs.writeSync(fd, STATE_BYTE[state], 0, 1, e.offset + STATE_OFFSET);
      } catch {
        this.counts.diskErrors++;
      }
    }
  }

  /** Starts asynchronous writes of every buffered batch (the timer calls this). */
  flush(): void {
    this.startWrites(false);
  }

  /** `all`: batches still being compressed too, as they are (close: nothing waits for the thread pool). */
  private startWrites(all: boolean): void {
    this.queued.push(...this.assignBuffered(all));
    if (!this.writing) this.writeNext();
  }

  /**
   * One asynchronous write at a time: after a failed one, nothing has been written past it,
   * so the segment can be cut back to its last whole entry.
   */
  private writeNext(): void {
    const job = this.queued.find((j) => !j.done);
    this.writing = job !== undefined;
    if (!job) return;
    const seg = job.segment;
    seg.ops++;
    this.io++;
    fs.writev(seg.fd, job.buffers, job.position, (err, written) => {
      seg.ops--;
      this.completeWrite(job, err, written);
      this.maybeRetire(seg);
      this.writeNext();
      this.ioDone();
    });
  }

  /**
   * Hands pending batches to `send`, oldest first (adopted ones before ours), one at a time,
   * and removes each once delivered. Stops when nothing is left, when `send` answers 'retry'
   * (or throws), or after `maxBatches`: the caller drives the replay in slices while live
   * traffic flows. One replay runs at a time (another call returns 'busy' at once).
   * Each batch is marked 'tried' on disk before its send starts and 'A' as soon as it is
   * delivered (back to pending when refused), so that a batch whose send outcome is unknown
   * is known as such, by this process and by a successor, and counted in possibleDuplicates
   * when it is delivered.
   */
  async replay(send: (batch: SpilledBatch) => Promise<SendOutcome>, opts: { maxBatches?: number } = {}): Promise<ReplayResult> {
    const result: ReplayResult = { sentBatches: 0, sentRecords: 0, stopped: 'empty' };
    if (this.replaying) return { ...result, stopped: 'busy' };
    if (this.phase !== 'open') return { ...result, stopped: 'closed' };
    this.replaying = true;
    const max = opts.maxBatches ?? Infinity;
    try {
      await this.opened;
      for (;;) {
        if (this.phase !== 'open') return { ...result, stopped: 'closed' };
        if (result.sentBatches >= max) return { ...result, stopped: 'limit' };
        this.expire(Date.now());
        const entry = this.order.first(notSending);
        if (!entry) return result;
        entry.sending = true;
        let outcome: SendOutcome;
        try {
          // The read and the mark run side by side; the send starts only once the mark is on disk.
          // (sending: a compression that ends meanwhile leaves the entry as it is)
          const gzipped = entry.flags === FLAG_GZIP;
          const [bytes] = await Promise.all([this.readPayload(entry), this.markTried(entry)]);
          if (isGone(entry)) continue; // dropped meanwhile (its write failed)
          if (typeof bytes === 'string') {
            this.drop(entry, bytes);
            continue;
          }
          try {
            outcome = await send({
              signal: entry.signal,
              bytes,
              records: entry.records,
              priority: entry.priority,
              createdAt: entry.createdAt,
              adopted: isAdopted(entry),
              uncertain: entry.uncertain,
              gzip: gzipped,
            });
          } catch {
            outcome = 'retry';
          }
          if (outcome === 'retry' && !entry.uncertain) {
            // refused, so not delivered: back to pending (a successor must not count it), before
            // anything else may mark it (sending keeps shedding off it meanwhile)
            entry.tried = false;
            await this.mark(entry, STATE_PENDING);
          }
        } finally {
          entry.sending = false;
        }
        if (isGone(entry)) continue;
        if (outcome === 'ok') {
          add(this.counts.replayed, entry);
          if (entry.uncertain) add(this.counts.possibleDuplicates, entry);
          result.sentBatches++;
          result.sentRecords += entry.records;
          this.remove(entry, STATE_ACKED);
        } else if (outcome === 'drop') {
          this.drop(entry, 'rejected');
        } else if (outcome === 'corrupt') {
          this.drop(entry, 'corrupt');
        } else {
          if (outcome === 'unknown') entry.uncertain = true;
          return { ...result, stopped: 'retry' };
        }
      }
    } finally {
      this.replaying = false;
    }
  }

  /** Whether append() takes batches now (open, with a directory, not paused after a disk error). */
  available(): boolean {
    return this.phase === 'open' && this.own !== undefined && Date.now() >= this.availableAfter;
  }

  /** Counts so far, as a copy. */
  stats(): SpillStats {
    const c = this.counts;
    const copy = (x: SpillCounter) => ({ ...x });
    return {
      available: this.phase === 'open' && this.own !== undefined && Date.now() >= this.availableAfter,
      appended: copy(c.appended),
      written: copy(c.written),
      adopted: copy(c.adopted),
      replayed: copy(c.replayed),
      possibleDuplicates: copy(c.possibleDuplicates),
      pending: copy(c.pending),
      dropped: Object.fromEntries(SPILL_DROP_REASONS.map((r) => [r, copy(c.dropped[r])])) as Record<SpillDropReason, SpillCounter>,
      diskErrors: c.diskErrors,
    };
  }

  /**
   * Writes what is buffered, waits for the disk operations in flight, closes the files.
   * Our directory is removed when it holds nothing; otherwise it stays (with its lock) for
   * the next process of the service to adopt. Never rejects.
   */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    const wasOpen = this.phase === 'open';
    this.phase = 'closed';
    if (this.timer) clearInterval(this.timer);
    if (!wasOpen) return;
    await this.opened;
    this.toCompress = [];
    this.startWrites(true);
    if (this.active) {
      this.active.sealed = true;
      this.maybeRetire(this.active);
    }
    await this.idle();
    const dirs = [...(this.own ? [this.own] : []), ...this.adopted];
    for (const dir of dirs) {
      for (const seg of dir.segments) this.closeFd(seg);
    }
    if (this.own && this.counts.pending.batches === 0) {
      await fs.promises.rm(this.own.path, { recursive: true, force: true }).catch(() => {});
    }
  }

  // ---- own directory and adoption ----

  private createOwnDir(): void {
    const lock = ownLock();
    this.ownName = `${lock.pid}-${lock.start}-${instances++}`;
    const path = join(this.serviceDir, this.ownName);
    try {
      makeDirs(this.serviceDir);
      // The directory gets its final name only once its lock is whole.
      const tmp = join(this.serviceDir, `.${this.ownName}.tmp`);
      fs.mkdirSync(tmp);
      fs.writeFileSync(join(tmp, LOCK_FILE), encodeLock(lock));
      fs.renameSync(tmp, path);
      this.own = { path, own: true, parent: undefined, segments: new Set(), children: new Set(), loading: false };
    } catch (e) {
      this.diskFailure(e);
    }
  }

  /** Moves the directories of dead processes into ours (a rename: one adopter wins), then indexes them. */
  private async adoptDeadDirs(): Promise<void> {
    const own = this.own!;
    const names = await fs.promises.readdir(this.serviceDir);
    const taken: SpillDir[] = [];
    for (const name of names) {
      // A directory still being made (or left half-made by a process that died then).
      const making = /^\.(\d+)-.*\.tmp$/.exec(name);
      if (making && pidGone(Number(making[1]))) await fs.promises.rm(join(this.serviceDir, name), { recursive: true, force: true });
      if (name.startsWith('.') || name === this.ownName) continue;
      const from = join(this.serviceDir, name);
      const lock = parseLock(await fs.promises.readFile(join(from, LOCK_FILE), 'utf8').catch(() => ''));
      if (!lock || !lockHolderDead(lock)) continue;
      const to = join(own.path, ADOPTED_PREFIX + name);
      try {
        await fs.promises.rename(from, to);
      } catch {
        continue; // another process adopted it first
      }
      const dir: SpillDir = { path: to, own: false, parent: own, segments: new Set(), children: new Set(), loading: false };
      own.children.add(dir);
      taken.push(dir);
    }
    const found: Entry[] = [];
    for (const dir of taken) {
      const before = found.length;
      try {
        await this.loadDir(dir, found);
      } catch (e) {
        // What it held stays on disk, inside our directory, for the process after us.
        this.adoptionFailure(e);
        found.length = before;
      }
    }
    // Oldest first; the sort is stable, so one directory's entries keep their order.
    found.sort((a, b) => a.createdAt - b.createdAt);
    for (const e of found) {
      add(this.counts.adopted, e);
      add(this.counts.pending, e);
    }
    this.order.prepend(found);
    const byPriority = new Map<number, Entry[]>();
    for (const e of found) {
      const list = byPriority.get(e.priority) ?? [];
      list.push(e);
      byPriority.set(e.priority, list);
    }
    for (const [p, list] of byPriority) this.queueOf(p).prepend(list);
    // The adopted batches count against maxBytes too.
    while (this.counts.pending.bytes > this.options.maxBytes) {
      const victim = this.lowestPriorityOldest();
      if (!victim) break;
      this.drop(victim, 'spill_full');
    }
  }

  /** Indexes the segments of an adopted directory (and of the directories it had adopted). */
  private async loadDir(dir: SpillDir, out: Entry[]): Promise<void> {
    dir.loading = true;
    try {
      await this.indexDir(dir, out);
    } finally {
      dir.loading = false;
    }
    this.maybeRemoveDir(dir);
  }

  private async indexDir(dir: SpillDir, out: Entry[]): Promise<void> {
    this.adopted.add(dir);
    const names = (await fs.promises.readdir(dir.path)).sort();
    // Directories it had adopted are older than its own segments.
    for (const name of names) {
      if (!name.startsWith(ADOPTED_PREFIX)) continue;
      const child: SpillDir = { path: join(dir.path, name), own: false, parent: dir, segments: new Set(), children: new Set(), loading: false };
      dir.children.add(child);
      await this.loadDir(child, out);
    }
    for (const name of names) {
      if (!SEGMENT_NAME.test(name)) continue;
      const path = join(dir.path, name);
      const contents = await fs.promises.readFile(path);
      const scan = scanSegment(contents);
      for (const header of scan.corrupt) {
        // Counted as adopted and dropped, so that adopted = replayed + pending + dropped holds.
        const torn = header
          ? { signal: header.signal, records: header.records, payloadLength: header.payloadLength }
          : { signal: 'logs' as const, records: 0, payloadLength: 0 };
        const adopted = true;
        add(this.counts.adopted, torn);
        if (header) this.count('corrupt', { ...torn, adopted });
        else add(this.counts.dropped.corrupt, torn);
      }
      const seg: Segment = { dir, path, fd: -1, size: contents.length, live: 0, ops: 0, sealed: true, retired: false };
      dir.segments.add(seg);
      for (const { offset, header } of scan.entries) {
        if (header.state === STATE_ACKED || header.state === STATE_DROPPED) continue;
        seg.live++;
        // Any other state is pending; 'tried': its process was killed between a send and its outcome.
        const tried = header.state === STATE_TRIED;
        out.push({
          state: EntryState.Written,
          signal: header.signal,
          records: header.records,
          priority: header.priority,
          createdAt: header.createdAt,
          payloadLength: header.payloadLength,
          flags: header.flags,
          compressing: false,
          header: undefined,
          bytes: undefined,
          segment: seg,
          offset,
          sending: false,
          finalState: STATE_PENDING,
          tried,
          uncertain: tried,
          job: undefined,
        });
      }
      if (seg.live > 0) seg.fd = await openAsync(path, 'r+');
      else this.maybeRetire(seg);
    }
  }

  /** Removes an adopted directory once it holds no segment and no directory. */
  private maybeRemoveDir(dir: SpillDir): void {
    if (dir.own || dir.loading || dir.segments.size > 0 || dir.children.size > 0) return;
    const parent = dir.parent;
    parent?.children.delete(dir);
    this.adopted.delete(dir);
    this.io++;
    fs.rm(dir.path, { recursive: true, force: true }, () => {
      this.ioDone();
      if (parent) this.maybeRemoveDir(parent);
    });
  }

  // ---- writing ----

  private acceptsWrites(): boolean {
    if (this.phase !== 'open') return false;
    if (Date.now() < this.availableAfter) return false;
    if (!this.own) this.createOwnDir();
    return this.own !== undefined;
  }

  /**
   * Places buffered entries in segments (rolling as needed) and returns the writes to make.
   * `all`: entries being compressed too, as they are (exit paths); else they stay buffered.
   */
  private assignBuffered(all: boolean): WriteJob[] {
    const entries = this.buffered;
    this.buffered = [];
    const jobs: WriteJob[] = [];
    let job: WriteJob | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.state !== EntryState.Buffered) continue;
      if (e.compressing) {
        if (!all) {
          // the oldest still compressing waits, and so does everything after it: segments keep append order
          for (let j = i; j < entries.length; j++) if (entries[j].state === EntryState.Buffered) this.buffered.push(entries[j]);
          break;
        }
        e.compressing = false; // its compression's result is let go
      }
      const size = HEADER_BYTES + e.payloadLength;
      let seg = this.active;
      if (!seg || seg.sealed || (seg.size > 0 && seg.size + size > this.options.segmentBytes)) {
        seg = this.roll();
        if (!seg) {
          this.drop(e, 'disk_error');
          continue;
        }
      }
      if (!job || job.segment !== seg || job.entries.length >= ENTRIES_PER_WRITE) {
        job = writeJob(seg);
        jobs.push(job);
      }
      e.state = EntryState.Writing;
      e.job = job;
      e.segment = seg;
      e.offset = seg.size;
      seg.size += size;
      seg.live++;
      job.entries.push(e);
      // made now, from what the entry holds by now (its checksum over the stored bytes only; 'tried' if marked so)
      e.header = encodeHeader(e.signal, e.priority, e.records, e.createdAt, e.bytes!, e.tried ? STATE_TRIED : STATE_PENDING, e.flags);
      job.buffers.push(e.header, e.bytes!);
    }
    return jobs;
  }

  /** Seals the active segment and opens the next one; undefined after a disk error. */
  private roll(): Segment | undefined {
    const previous = this.active;
    this.active = undefined;
    if (previous) {
      previous.sealed = true;
      this.maybeRetire(previous);
    }
    const own = this.own;
    if (!own || Date.now() < this.availableAfter) return undefined;
    const path = join(own.path, `segment-${String(++this.segmentSeq).padStart(12, '0')}.spill`);
    let fd: number;
    try {
      try {
        fd = fs.openSync(path, 'wx+');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        // Our directory was removed under us: make it again, lock included.
        makeDirs(own.path);
        fs.writeFileSync(join(own.path, LOCK_FILE), encodeLock(ownLock()));
        fd = fs.openSync(path, 'wx+');
      }
    } catch (e) {
      this.diskFailure(e);
      return undefined;
    }
    const seg: Segment = { dir: own, path, fd, size: 0, live: 0, ops: 0, sealed: false, retired: false };
    own.segments.add(seg);
    this.active = seg;
    return seg;
  }

  /** Settles a write: `written` bytes of it reached the file (a short write fails the rest). */
  private completeWrite(job: WriteJob, err: Error | null, written: number): void {
    if (job.done) return;
    let whole = 0;
    let ok = 0;
    for (const e of job.entries) {
      const size = HEADER_BYTES + e.payloadLength;
      if (err || whole + size > written) break;
      whole += size;
      ok++;
    }
    const failed = err ?? (ok < job.entries.length ? Object.assign(new Error('short write'), { code: 'ESHORTWRITE' }) : null);
    if (failed) {
      this.diskFailure(failed);
      const seg = job.segment;
      seg.sealed = true;
      if (this.active === seg) this.active = undefined;
      // Leave no torn entry for a successor to count a second time.
      try {
        fs.ftruncateSync(seg.fd, job.position + whole);
      } catch {
        // The reader skips a torn entry anyway.
      }
      // Writes queued behind it would land past the cut: they fail with it.
      for (const later of this.queued) if (later !== job && !later.done) this.settle(later, 0);
    }
    this.settle(job, ok);
    this.queued = this.queued.filter((j) => !j.done);
    this.maybeRetire(job.segment);
  }

  /** Marks the first `ok` entries of `job` written and counts the rest as disk errors. */
  private settle(job: WriteJob, ok: number): void {
    job.done = true;
    job.resolveSettled();
    job.entries.forEach((e, i) => {
      e.header = undefined;
      e.bytes = undefined;
      e.job = undefined;
      if (e.state === EntryState.Writing) {
        if (i < ok) {
          e.state = EntryState.Written;
          add(this.counts.written, e);
        } else {
          this.drop(e, 'disk_error');
        }
      } else if (i < ok && e.finalState !== STATE_PENDING) {
        // Sent or dropped while its write was in flight.
        this.writeState(e, e.finalState);
      }
    });
  }

  // ---- removal, shedding, expiry ----

  private track(e: Entry): void {
    add(this.counts.pending, e);
    this.order.push(e);
    this.queueOf(e.priority).push(e);
  }

  private queueOf(priority: number): EntryQueue {
    let q = this.byPriority.get(priority);
    if (!q) {
      q = new EntryQueue();
      this.byPriority.set(priority, q);
    }
    return q;
  }

  /** Sheds lowest-priority, oldest entries until `size` more bytes fit; false when the new batch is the one to go. */
  private makeRoom(size: number, priority: number): boolean {
    if (size > this.options.maxBytes) return false;
    while (this.counts.pending.bytes + size > this.options.maxBytes) {
      const victim = this.lowestPriorityOldest();
      if (!victim || victim.priority > priority) return false;
      this.drop(victim, 'spill_full');
    }
    return true;
  }

  private lowestPriorityOldest(): Entry | undefined {
    const classes = [...this.byPriority.keys()].sort((a, b) => a - b);
    for (const p of classes) {
      const e = this.byPriority.get(p)!.first(notSending);
      if (e) return e;
    }
    return undefined;
  }

  private expire(now: number): void {
    const cutoff = now - this.options.maxAgeMillis;
    const old: Entry[] = [];
    this.order.scan((e) => {
      if (e.createdAt >= cutoff) return false;
      if (!e.sending) old.push(e);
      return true;
    });
    for (const e of old) this.drop(e, 'expired');
  }

  private drop(e: Entry, reason: SpillDropReason): void {
    this.remove(e, STATE_DROPPED);
    this.count(reason, e);
  }

  private count(reason: SpillDropReason, e: { signal: SpillSignal; records: number; payloadLength: number; adopted?: boolean; segment?: Segment }): void {
    add(this.counts.dropped[reason], e);
    try {
      this.options.onDrop?.(reason, e.signal, e.records, e.adopted ?? isAdopted(e));
    } catch (err) {
      diag.warn(`spill: onDrop threw: ${String(err)}`);
    }
  }

  /** Takes `e` out of the spill and records why on disk (`state`: acknowledged or dropped). */
  private remove(e: Entry, state: number): void {
    const was = e.state;
    if (was === EntryState.Gone) return;
    e.state = EntryState.Gone;
    sub(this.counts.pending, e);
    if (was === EntryState.Buffered) {
      e.header = undefined;
      e.bytes = undefined;
      e.compressing = false;
      return;
    }
    const seg = e.segment!;
    seg.live--;
    if (was === EntryState.Writing) {
      e.finalState = state;
      return;
    }
    // A segment with nothing left is deleted: no need to mark its entries.
    if (seg.live === 0 && seg.sealed) this.maybeRetire(seg);
    else this.writeState(e, state);
  }

  private writeState(e: Entry, state: number): void {
    const seg = e.segment!;
    if (seg.fd < 0 || seg.retired) return;
    seg.ops++;
    this.io++;
    this.marking.set(e, state);
    fs.write(seg.fd, STATE_BYTE[state], 0, 1, e.offset + STATE_OFFSET, (err) => {
      seg.ops--;
      this.marking.delete(e);
      // A lost mark means the batch may be sent again by a later process: a duplicate, not a loss.
      if (err) this.counts.diskErrors++;
      this.maybeRetire(seg);
      this.ioDone();
    });
  }

  /** Deletes a sealed segment with no live entry once no operation on it is in flight. */
  private maybeRetire(seg: Segment): void {
    if (seg.retired || seg.live > 0 || seg.ops > 0 || !seg.sealed) return;
    seg.retired = true;
    seg.dir.segments.delete(seg);
    this.closeFd(seg);
    this.io++;
    fs.unlink(seg.path, () => {
      this.ioDone();
      this.maybeRemoveDir(seg.dir);
    });
  }

  private closeFd(seg: Segment): void {
    if (seg.fd < 0) return;
    const fd = seg.fd;
    seg.fd = -1;
    this.io++;
    fs.close(fd, () => this.ioDone());
  }

  // ---- reading ----

  /**
   * The payload of `e`: from memory while unwritten, else read back and checked; or why it
   * cannot be had (the caller drops it, once the 'tried' mark beside this read has landed).
   */
  private async readPayload(e: Entry): Promise<Uint8Array | 'corrupt' | 'disk_error'> {
    if (e.state !== EntryState.Written) return e.bytes!;
    const seg = e.segment!;
    const size = HEADER_BYTES + e.payloadLength;
    if (this.readBuffer.length < size) this.readBuffer = Buffer.allocUnsafe(Math.max(size, 2 * this.readBuffer.length));
    const buf = this.readBuffer.subarray(0, size);
    seg.ops++;
    this.io++;
    try {
      const { bytesRead } = await readAsync(seg.fd, buf, 0, buf.length, e.offset);
      const header = bytesRead === buf.length ? decodeHeader(buf, 0) : undefined;
      const payload = buf.subarray(HEADER_BYTES);
      if (!header || header.payloadLength !== e.payloadLength || !payloadIntact(header, payload)) return 'corrupt';
      return payload;
    } catch (err) {
      this.diskFailure(err);
      return 'disk_error';
    } finally {
      seg.ops--;
      this.maybeRetire(seg);
      this.ioDone();
    }
  }

  /**
   * Marks `e` 'tried' before a send of it starts: a process killed from here until its 'A'
   * mark lands (the send, the collector's answer, the mark's write) leaves a batch that its
   * successor replays and counts as a possible duplicate. Unwritten, the mark goes into the
   * header that will be written. A failed mark is counted (diskErrors) and the send goes on.
   */
  private markTried(e: Entry): Promise<void> {
    if (e.tried) return Promise.resolve();
    e.tried = true;
    return this.mark(e, STATE_TRIED);
  }

  /** Sets the state byte of a pending entry: in its header while unwritten, else on disk once its write has landed. */
  private async mark(e: Entry, state: number): Promise<void> {
    // unwritten: its header, made when it is written, takes the state from e.tried
    if (e.state === EntryState.Buffered) return;
    // the mark has to land after the entry itself
    if (e.state === EntryState.Writing) await e.job!.settled;
    const seg = e.segment!;
    if (isGone(e) || seg.fd < 0 || seg.retired) return;
    seg.ops++;
    this.io++;
    this.marking.set(e, state);
    try {
      await writeAsync(seg.fd, STATE_BYTE[state], 0, 1, e.offset + STATE_OFFSET);
    } catch {
      this.counts.diskErrors++;
    } finally {
      if (this.marking.get(e) === state) this.marking.delete(e);
      seg.ops--;
      this.maybeRetire(seg);
      this.ioDone();
    }
  }

  // ---- housekeeping ----

  private tick(): void {
    this.expire(Date.now());
    // Let the priority queues drop the entries the replay removed.
    for (const q of this.byPriority.values()) q.scan(() => false);
    this.flush();
    this.checkActiveLinked();
  }

  /**
   * A segment whose file was deleted (its directory removed) still takes writes and reads
   * through its fd, but keeps nothing for a successor: start a new one, which makes the
   * directory again.
   */
  private checkActiveLinked(): void {
    const seg = this.active;
    if (!seg || seg.fd < 0) return;
    seg.ops++;
    this.io++;
    fs.fstat(seg.fd, (err, st) => {
      seg.ops--;
      if (!err && st.nlink === 0 && this.active === seg) {
        seg.sealed = true;
        this.active = undefined;
      }
      this.maybeRetire(seg);
      this.ioDone();
    });
  }

  private adoptionFailure(err: unknown): void {
    this.counts.diskErrors++;
    diag.warn(`spill: could not adopt a directory under ${this.serviceDir}: ${(err as NodeJS.ErrnoException)?.code ?? String(err)}`);
  }

  private diskFailure(err: unknown): void {
    this.counts.diskErrors++;
    const wasAvailable = Date.now() >= this.availableAfter;
    this.availableAfter = Date.now() + DISK_RETRY_MILLIS;
    if (wasAvailable) {
      const code = (err as NodeJS.ErrnoException)?.code ?? String(err);
      diag.warn(`spill: disk error (${code}) under ${this.serviceDir}; batches are not spilled for ${DISK_RETRY_MILLIS} ms`);
    }
  }

  private ioDone(): void {
    if (--this.io > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private idle(): Promise<void> {
    return this.io === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
