import { RefFifo, type RecordCodec } from './record-codec';

/**
 * One FIFO ring of records in flat columns: `refSlots` references and `numSlots`
 * numbers per record (plus the codec's variable part in `extras`), its sequence number
 * and its estimated size.
 */
export class Ring<T> {
  private cap = 16;
  private refs: unknown[];
  private nums: Float64Array;
  private seqs = new Float64Array(16);
  private sizes = new Float64Array(16);
  private readonly extras = new RefFifo();
  private head = 0;
  length = 0;

  constructor(private readonly codec: RecordCodec<T>) {
    this.refs = new Array(16 * codec.refSlots).fill(undefined);
    this.nums = new Float64Array(16 * codec.numSlots);
  }

  /** Stores a record; returns its estimated size. */
  push(item: T, seq: number): number {
    if (this.length === this.cap) this.grow();
    const i = (this.head + this.length) & (this.cap - 1);
    const size = this.codec.encode(item, this.refs, i * this.codec.refSlots, this.nums, i * this.codec.numSlots, this.extras);
    this.seqs[i] = seq;
    this.sizes[i] = size;
    this.length++;
    return size;
  }

  headSeq(): number {
    return this.seqs[this.head];
  }

  headSize(): number {
    return this.sizes[this.head];
  }

  tailSize(): number {
    return this.sizes[(this.head + this.length - 1) & (this.cap - 1)];
  }

  /** Discards the oldest record. */
  shift(): void {
    const i = this.head;
    const { refSlots, numSlots } = this.codec;
    const r = i * refSlots;
    this.extras.skip(this.codec.extraCount(this.nums, i * numSlots));
    for (let k = 0; k < refSlots; k++) this.refs[r + k] = undefined; // let go of what it held
    this.head = (i + 1) & (this.cap - 1);
    this.length--;
  }

  /** Moves the oldest record, as it is stored, to the end of `dst`. */
  moveHeadTo(dst: Ring<T>): void {
    if (dst.length === dst.cap) dst.grow();
    const { refSlots, numSlots } = this.codec;
    const i = this.head;
    const j = (dst.head + dst.length) & (dst.cap - 1);
    for (let k = 0; k < refSlots; k++) {
      dst.refs[j * refSlots + k] = this.refs[i * refSlots + k];
      this.refs[i * refSlots + k] = undefined;
    }
    for (let k = 0; k < numSlots; k++) dst.nums[j * numSlots + k] = this.nums[i * numSlots + k];
    const extra = this.codec.extraCount(this.nums, i * numSlots);
    for (let k = 0; k < extra; k++) dst.extras.push(this.extras.shift());
    dst.seqs[j] = this.seqs[i];
    dst.sizes[j] = this.sizes[i];
    dst.length++;
    this.head = (i + 1) & (this.cap - 1);
    this.length--;
  }

  /** Appends every record, decoded afresh, to `out`; the ring keeps them (a retry decodes again). */
  decodeAll(out: T[]): void {
    const { refSlots, numSlots } = this.codec;
    let e = 0;
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & (this.cap - 1);
      out.push(this.codec.decode(this.refs, i * refSlots, this.nums, i * numSlots, this.extras, e));
      e += this.codec.extraCount(this.nums, i * numSlots);
    }
  }

  /** Empties the ring, letting go of everything it held; its storage stays for reuse. */
  clear(): void {
    while (this.length > 0) this.shift();
    this.head = 0;
  }

  /** Removes the newest record without decoding it. */
  pop(): void {
    const i = (this.head + this.length - 1) & (this.cap - 1);
    const { refSlots, numSlots } = this.codec;
    this.extras.truncate(this.codec.extraCount(this.nums, i * numSlots));
    for (let k = 0; k < refSlots; k++) this.refs[i * refSlots + k] = undefined;
    this.length--;
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
 * A queue of records in priority classes (0 = least important) that keeps arrival order
 * across classes and sheds the oldest record of the lowest class present in O(classes).
 * A global sequence number orders the classes' heads when a batch is taken. Bounds are
 * the engine's business: the queue only counts records and estimated bytes.
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
    private readonly codec: RecordCodec<T>,
  ) {
    for (let c = 0; c < classes; c++) this.rings.push(new Ring<T>(codec));
  }

  /** An empty ring in this queue's layout, to hold a batch taken from it. */
  newBatch(): Ring<T> {
    return new Ring<T>(this.codec);
  }

  /** Sequence number the next push will get. */
  get nextSeq(): number {
    return this.seq;
  }

  push(item: T, cls: number): void {
    this.bytes += this.rings[cls].push(item, this.seq++);
    this.length++;
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
    ring.shift();
  }

  /** Discards the newest record of class `cls` (which must be non-empty). */
  shedNewest(cls: number): void {
    const ring = this.rings[cls];
    this.length--;
    this.bytes -= ring.tailSize();
    ring.pop();
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
   * Moves up to `max` of the oldest records, in arrival order across classes and as they
   * are stored, to the end of `batch`. Returns the number moved.
   */
  take(batch: Ring<T>, max: number): number {
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
      r.moveHeadTo(batch);
      n++;
    }
    return n;
  }
}
