/**
 * A FIFO of references that a codec may use for the variable part of a record (a log
 * record's attributes). One per priority class, consumed in the same order as the records.
 */
export class RefFifo {
  private items: unknown[] = new Array(64).fill(undefined);
  private head = 0;
  length = 0;

  push(v: unknown): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = v;
    this.length++;
  }

  shift(): unknown {
    const i = this.head;
    const v = this.items[i];
    this.items[i] = undefined;
    this.head = (i + 1) & (this.items.length - 1);
    this.length--;
    return v;
  }

  /** The reference `k` places from the head. */
  at(k: number): unknown {
    return this.items[(this.head + k) & (this.items.length - 1)];
  }

  /** Drops `k` references from the head. */
  skip(k: number): void {
    for (let j = 0; j < k; j++) this.shift();
  }

  /** Drops `k` references from the tail (the newest). */
  truncate(k: number): void {
    for (let j = 0; j < k; j++) {
      this.length--;
      this.items[(this.head + this.length) & (this.items.length - 1)] = undefined;
    }
  }

  private grow(): void {
    const items: unknown[] = new Array(this.items.length * 2).fill(undefined);
    for (let k = 0; k < this.length; k++) items[k] = this.items[(this.head + k) & (this.items.length - 1)];
    this.items = items;
    this.head = 0;
  }
}

/**
 * How the queue stores a record. The queue keeps records in flat columns (a fixed number
 * of references and numbers per record, plus a variable number of references in a FIFO)
 * instead of holding the objects the SDK made: those then die young, so a full queue
 * neither holds their memory nor makes V8 grow its young generation.
 * `decode` builds a fresh record for export: records are never reused, since an exporter
 * may keep what it was given (an in-memory exporter does).
 */
export interface RecordCodec<T> {
  /** References stored per record. */
  readonly refSlots: number;
  /** Numbers stored per record. */
  readonly numSlots: number;
  /** Stores `item`; returns its estimated size in bytes (for the queue's byte bound). */
  encode(item: T, refs: unknown[], r: number, nums: Float64Array, n: number, extras: RefFifo): number;
  /** Builds a fresh record; its variable part starts `e` places from the head of `extras`. */
  decode(refs: unknown[], r: number, nums: Float64Array, n: number, extras: RefFifo, e: number): T;
  /** How many references of `extras` the stored record holds. */
  extraCount(nums: Float64Array, n: number): number;
}

/** Stores the object itself: for records that are cheap to hold (spans). */
export function identityCodec<T>(estimate: (item: T) => number): RecordCodec<T> {
  return {
    refSlots: 1,
    numSlots: 0,
    encode(item, refs, r) {
      refs[r] = item;
      return estimate(item);
    },
    decode(refs, r) {
      return refs[r] as T;
    },
    extraCount() {
      return 0;
    },
  };
}
