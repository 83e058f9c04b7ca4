import type { SpillSignal } from './entry-format';

/**
 * The spill's index in memory: every batch it holds (an Entry), where each one is (its
 * Segment, in a SpillDir), and the queues that give the replay and the shedding their order.
 */

export enum EntryState {
  /** In memory, waiting for the next flush. */
  Buffered,
  /** Handed to a write. */
  Writing,
  /** On disk; its bytes are read back for the replay. */
  Written,
  /** Sent or dropped. */
  Gone,
}

/** A directory of segments: our own, or one adopted from a dead process. */
export interface SpillDir {
  path: string;
  own: boolean;
  parent: SpillDir | undefined;
  segments: Set<Segment>;
  children: Set<SpillDir>;
  /** Being indexed: not removed meanwhile, even when it holds no segment yet. */
  loading: boolean;
}

export interface Segment {
  dir: SpillDir;
  path: string;
  fd: number;
  /** Bytes assigned so far (the next entry's offset). */
  size: number;
  /** Entries in it that are not gone. */
  live: number;
  /** Async operations on fd in flight: fd is closed only once none is. */
  ops: number;
  /** No more appends (full, failed, or adopted). */
  sealed: boolean;
  retired: boolean;
}

export interface Entry {
  state: EntryState;
  signal: SpillSignal;
  records: number;
  priority: number;
  createdAt: number;
  /** Bytes of the payload as stored (gzip-compressed when flags has FLAG_GZIP). */
  payloadLength: number;
  /** The header's flags (FLAG_GZIP or 0). */
  flags: number;
  /**
   * Buffered, its payload being gzip-compressed in the thread pool: the asynchronous flush
   * waits for it; flushSync writes it as it is (uncompressed) and the compression's result is
   * then let go.
   */
  compressing: boolean;
  /** Payload held until written; its header, made when it is handed to a write. */
  header: Buffer | undefined;
  bytes: Uint8Array | undefined;
  segment: Segment | undefined;
  offset: number;
  /** Being read or sent by the replay: not shed or expired meanwhile. */
  sending: boolean;
  /** State byte to write once an in-flight write of this (now gone) entry completes. */
  finalState: number;
  /** Its state on disk is 'tried' (or will be, once written): a send of it was started. */
  tried: boolean;
  /**
   * An earlier send's outcome is unknown (no answer, or in flight when its process spilled it
   * at exit, or found 'tried' in a dead process's segment): delivered now, it may arrive twice.
   */
  uncertain: boolean;
  /** The write carrying it, while Writing. */
  job: WriteJob | undefined;
}

export interface WriteJob {
  segment: Segment;
  position: number;
  entries: Entry[];
  buffers: Uint8Array[];
  done: boolean;
  /** Resolves once the write is settled (its entries Written, or gone after a failure). */
  settled: Promise<void>;
  resolveSettled: () => void;
}

/** Oldest first, with gone entries skipped lazily. */
export class EntryQueue {
  private items: Entry[] = [];
  private head = 0;

  push(e: Entry): void {
    this.items.push(e);
  }

  /** The oldest entries that are not gone, in order, as long as `visit` returns true. */
  scan(visit: (e: Entry) => boolean): void {
    while (this.head < this.items.length && this.items[this.head].state === EntryState.Gone) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    for (let i = this.head; i < this.items.length; i++) {
      const e = this.items[i];
      if (e.state !== EntryState.Gone && !visit(e)) return;
    }
  }

  first(pred: (e: Entry) => boolean): Entry | undefined {
    let found: Entry | undefined;
    this.scan((e) => {
      if (pred(e)) found = e;
      return found === undefined;
    });
    return found;
  }

  /** Puts `older` (oldest first) before everything queued. */
  prepend(older: Entry[]): void {
    this.items = older.concat(this.items.slice(this.head));
    this.head = 0;
  }
}

