/**
 * A bounded queue of records in priority classes (0 = least important) that keeps
 * arrival order across classes and can shed the oldest record of the lowest class
 * present in O(classes). One class is one FIFO ring; a global sequence number
 * orders the classes' heads when a batch is taken.
 */
class Ring<T> {
  items: (T | undefined)[] = new Array(16);
  seqs: Float64Array = new Float64Array(16);
  sizes: Float64Array = new Float64Array(16);
  head = 0;
  length = 0;

  push(item: T, seq: number, size: number): void {
    if (this.length === this.items.length) this.grow();
    const i = (this.head + this.length) & (this.items.length - 1);
    this.items[i] = item;
    this.seqs[i] = seq;
    this.sizes[i] = size;
    this.length++;
  }

  /** Sequence number of the head; only valid when length > 0. */
  headSeq(): number {
    return this.seqs[this.head];
  }

  headSize(): number {
    return this.sizes[this.head];
  }

  shift(): T {
    const i = this.head;
    const item = this.items[i] as T;
    this.items[i] = undefined;
    this.head = (i + 1) & (this.items.length - 1);
    this.length--;
    return item;
  }

  private grow(): void {
    const cap = this.items.length * 2;
    const items: (T | undefined)[] = new Array(cap);
    const seqs = new Float64Array(cap);
    const sizes = new Float64Array(cap);
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & (this.items.length - 1);
      items[k] = this.items[i];
      seqs[k] = this.seqs[i];
      sizes[k] = this.sizes[i];
    }
    this.items = items;
    this.seqs = seqs;
    this.sizes = sizes;
    this.head = 0;
  }
}

export class PriorityQueue<T> {
  private readonly rings: Ring<T>[] = [];
  /** Records queued. */
  length = 0;
  /** Estimated bytes queued. */
  bytes = 0;
  private seq = 0;

  constructor(readonly classes: number) {
    for (let c = 0; c < classes; c++) this.rings.push(new Ring<T>());
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

  /** Removes the oldest record of class `cls` (which must be non-empty). */
  shed(cls: number): T {
    const ring = this.rings[cls];
    const size = ring.headSize();
    this.length--;
    this.bytes -= size;
    return ring.shift();
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
   * Moves up to `max` of the oldest records (in arrival order, across classes) into `out`,
   * taking none whose sequence number is above `maxSeq`. Returns the number moved.
   */
  take(out: T[], max: number, maxSeq = Infinity): number {
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
      if (bestSeq > maxSeq) break;
      const r = rings[best];
      this.bytes -= r.headSize();
      this.length--;
      out.push(r.shift());
      n++;
    }
    return n;
  }
}
