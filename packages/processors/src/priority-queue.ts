import type { RecordCodec } from './record-codec';

/**
 * One FIFO ring of records in flat columns: `refSlots` references and `numSlots`
 * numbers per record, plus its sequence number and estimated size.
 */
class Ring<T> {
  private cap = 16;
  private refs: unknown[];
  private nums: Float64Array;
  seqs = new Float64Array(16);
  sizes = new Float64Array(16);
  head = 0;
  length = 0;

  constructor(private readonly codec: RecordCodec<T>) {
    this.refs = new Array(16 * codec.refSlots).fill(undefined);
    this.nums = new Float64Array(16 * codec.numSlots);
  }

  push(item: T, seq: number, size: number): void {
    if (this.length === this.cap) this.grow();
    const i = (this.head + this.length) & (this.cap - 1);
    this.codec.encode(item, this.refs, i * this.codec.refSlots, this.nums, i * this.codec.numSlots);
    this.seqs[i] = seq;
    this.sizes[i] = size;
    this.length++;
  }

  headSeq(): number {
    return this.seqs[this.head];
  }

  headSize(): number {
    return this.sizes[this.head];
  }

  /** Removes the head, decoding it when `decode` is set. */
  shift(decode: boolean): T | undefined {
    const i = this.head;
    const { refSlots, numSlots } = this.codec;
    const r = i * refSlots;
    const item = decode ? this.codec.decode(this.refs, r, this.nums, i * numSlots) : undefined;
    for (let k = 0; k < refSlots; k++) this.refs[r + k] = undefined; // let go of what it held
    this.head = (i + 1) & (this.cap - 1);
    this.length--;
    return item;
  }

  private grow(): void {
    const { refSlots, numSlots } = this.codec;
    const cap = this.cap * 2;
    const refs = new Array(cap * refSlots).fill(undefined);
    const nums = new Float64Array(cap * numSlots);
    const seqs = new Float64Array(cap);
    const sizes = new Float64Array(cap);
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & (this.cap - 1);
      for (let s = 0; s < refSlots; s++) refs[k * refSlots + s] = this.refs[i * refSlots + s];
      for (let s = 0; s < numSlots; s++) nums[k * numSlots + s] = this.nums[i * numSlots + s];
      seqs[k] = this.seqs[i];
      sizes[k] = this.sizes[i];
    }
    this.refs = refs;
    this.nums = nums;
    this.seqs = seqs;
    this.sizes = sizes;
    this.cap = cap;
    this.head = 0;
  }
}

/**
 * A bounded queue of records in priority classes (0 = least important) that keeps
 * arrival order across classes and sheds the oldest record of the lowest class present
 * in O(classes). A global sequence number orders the classes' heads when a batch is taken.
 */
export class PriorityQueue<T> {
  private readonly rings: Ring<T>[] = [];
  /** Records queued. */
  length = 0;
  /** Estimated bytes queued. */
  bytes = 0;
  private seq = 0;

  constructor(
    readonly classes: number,
    codec: RecordCodec<T>,
  ) {
    for (let c = 0; c < classes; c++) this.rings.push(new Ring<T>(codec));
  }

  /** Sequence number the next push will get. */
  get nextSeq(): number {
    return this.seq;
  }

  push(item: T, cls: number, size: number): void {
    this.rings[cls].push(item, this.seq++, size);
    this.length++;
    this.bytes += size;
  }

  /** Lowest class with a record queued, or -1 when empty. */
  lowestClass(): number {
    for (let c = 0; c < this.classes; c++) if (this.rings[c].length > 0) return c;
    return -1;
  }

  /** Discards the oldest record of class `cls` (which must be non-empty). */
  shed(cls: number): void {
    const ring = this.rings[cls];
    this.length--;
    this.bytes -= ring.headSize();
    ring.shift(false);
  }

  /** Sequence number of the oldest queued record, or Infinity when empty. */
  oldestSeq(): number {
    let min = Infinity;
    for (let c = 0; c < this.classes; c++) {
      const r = this.rings[c];
      if (r.length > 0 && r.headSeq() < min) min = r.headSeq();
    }
    return min;
  }

  /**
   * Appends up to `max` of the oldest records, in arrival order across classes, to `out`.
   */
  take(out: T[], max: number): number {
    const rings = this.rings;
    let n = 0;
    while (n < max && this.length > 0) {
      let best = -1;
      let bestSeq = Infinity;
      for (let c = 0; c < rings.length; c++) {
        const r = rings[c];
        if (r.length > 0 && r.headSeq() < bestSeq) {
          bestSeq = r.headSeq();
          best = c;
        }
      }
      const r = rings[best];
      this.bytes -= r.headSize();
      this.length--;
      out.push(r.shift(true) as T);
      n++;
    }
    return n;
  }
}
