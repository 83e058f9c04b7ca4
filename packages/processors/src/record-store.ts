import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { ProtoWriter, varintSize } from './proto-writer';
import { encodeResource, encodeScope } from './otlp-encoder';

/**
 * A batch ready to send: one self-contained ExportLogsServiceRequest or
 * ExportTraceServiceRequest, plus what the queue knows about it. It can be sent, retried,
 * or written to disk and replayed as it is.
 */
export interface EncodedBatch {
  /** The request, protobuf-encoded. */
  readonly bytes: Uint8Array;
  /** Records in it. */
  readonly count: number;
  /** Sequence number of its oldest record. */
  readonly minSeq: number;
  /** Lowest and highest priority class of its records. */
  readonly minClass: number;
  readonly maxClass: number;
  /**
   * Resource and scope of each ScopeLogs/ScopeSpans in `bytes`, in order: lets the
   * batch be decoded back into SDK records for an exporter that wants those.
   */
  readonly scopes: readonly RecordGroup[];
}

/** The resource and instrumentation scope that records share. */
export interface RecordGroup {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
}

interface GroupInfo extends RecordGroup {
  /** Queued records of this group: its entry goes when the last one leaves. */
  live: number;
}

const SLAB_BYTES = 64 * 1024;
const LEN = 2;

/** Records of one priority class, FIFO: metadata in typed columns, bytes in slabs. */
class ClassQueue {
  cap = 64;
  seq = new Float64Array(64);
  slab = new Float64Array(64);
  off = new Float64Array(64);
  len = new Float64Array(64);
  group = new Float64Array(64);
  head = 0;
  length = 0;
  /** Encoded bytes of its records (what they add to requests); kept by the store. */
  bytes = 0;
  /** Slabs in use, oldest first; slabs[i] has id firstSlab + i. */
  slabs: Uint8Array[] = [];
  used: number[] = [];
  live: number[] = [];
  firstSlab = 0;

  constructor(private readonly free: Uint8Array[]) {}

  push(bytes: Uint8Array, n: number, seq: number, group: number): void {
    if (this.length === this.cap) this.grow();
    let last = this.slabs.length - 1;
    if (last < 0 || this.used[last] + n > this.slabs[last].length) {
      const s = n <= SLAB_BYTES ? (this.free.pop() ?? new Uint8Array(SLAB_BYTES)) : new Uint8Array(n);
      this.slabs.push(s);
      this.used.push(0);
      this.live.push(0);
      last++;
    }
    const off = this.used[last];
    copy(bytes, 0, n, this.slabs[last], off);
    this.used[last] = off + n;
    this.live[last]++;
    const i = (this.head + this.length) & (this.cap - 1);
    this.seq[i] = seq;
    this.slab[i] = this.firstSlab + last;
    this.off[i] = off;
    this.len[i] = n;
    this.group[i] = group;
    this.length++;
  }

  /** Removes the oldest record (its bytes stay readable until the next push). */
  shift(): void {
    const i = this.head;
    const s = this.slab[i] - this.firstSlab;
    this.live[s]--;
    this.head = (i + 1) & (this.cap - 1);
    this.length--;
    while (this.slabs.length > 0 && this.live[0] === 0 && (this.slabs.length > 1 || this.length === 0)) {
      const slab = this.slabs.shift()!;
      this.used.shift();
      this.live.shift();
      this.firstSlab++;
      if (slab.length === SLAB_BYTES && this.free.length < 64) this.free.push(slab);
    }
  }

  /** Removes the newest record. */
  pop(): void {
    const i = (this.head + this.length - 1) & (this.cap - 1);
    const s = this.slab[i] - this.firstSlab;
    this.live[s]--;
    if (this.off[i] + this.len[i] === this.used[s]) this.used[s] = this.off[i];
    this.length--;
    if (this.length === 0) {
      // nothing left: give every slab back but keep the index origin consistent
      while (this.slabs.length > 0) {
        const slab = this.slabs.shift()!;
        this.used.shift();
        this.live.shift();
        this.firstSlab++;
        if (slab.length === SLAB_BYTES && this.free.length < 64) this.free.push(slab);
      }
    }
  }

  headBytes(): Uint8Array {
    return this.slabs[this.slab[this.head] - this.firstSlab];
  }

  private grow(): void {
    const cap = this.cap * 2;
    const h = this.head;
    const unwrap = (col: Float64Array) => {
      // the ring is full: [head, cap) then [0, head)
      const next = new Float64Array(cap);
      next.set(col.subarray(h));
      next.set(col.subarray(0, h), col.length - h);
      return next;
    };
    this.seq = unwrap(this.seq);
    this.slab = unwrap(this.slab);
    this.off = unwrap(this.off);
    this.len = unwrap(this.len);
    this.group = unwrap(this.group);
    this.cap = cap;
    this.head = 0;
  }
}

const bufferCopy = Buffer.prototype.copy;

/**
 * Copies src[from, from + n) to dst at `at`. Buffer's copy takes any Uint8Array and allocates
 * nothing (set(subarray()) allocates a view per record: young-generation garbage on the hot path).
 */
function copy(src: Uint8Array, from: number, n: number, dst: Uint8Array, at: number): void {
  if (n > 16) {
    bufferCopy.call(src, dst, at, from, from + n);
    return;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
}

/** Bytes a record of `n` encoded bytes adds to a request: its tag, its length and itself. */
export function recordFieldBytes(n: number): number {
  return 1 + varintSize(n) + n;
}

/**
 * The queue's storage, shared by logs and spans: every record is held as its encoded
 * OTLP message (LogRecord or Span) in slabs of bytes, in a FIFO per priority class
 * (0 = least important), with its sequence number and the index of its resource and
 * scope. A queued record holds no JavaScript object of its own, its size is the exact
 * number of bytes it adds to a request, and a batch is assembled by copying bytes.
 * Bounds are the engine's business: the store only counts records and bytes.
 */
export class RecordStore {
  private readonly queues: ClassQueue[] = [];
  private readonly freeSlabs: Uint8Array[] = [];
  /** Records queued. */
  length = 0;
  /** Encoded bytes queued (what they add to requests). */
  bytes = 0;
  private seq = 0;
  private readonly groups: Array<GroupInfo | undefined> = [];
  private readonly freeGroupIds: number[] = [];
  private readonly groupIds = new Map<Resource, Map<InstrumentationScope, number>>();
  /** Encoded Resource and InstrumentationScope fields, by identity (see {@link encodedHead}). */
  private readonly resourceBytes = new WeakMap<object, Uint8Array>();
  private readonly scopeBytes = new WeakMap<object, Uint8Array>();
  private readonly w = new ProtoWriter(1024);

  constructor(readonly classes: number) {
    for (let c = 0; c < classes; c++) this.queues.push(new ClassQueue(this.freeSlabs));
  }

  /** Sequence number the next push will get. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Stores the `n` encoded bytes at the start of `bytes` as a record of class `cls`. */
  push(bytes: Uint8Array, n: number, cls: number, resource: Resource, scope: InstrumentationScope): void {
    const group = this.groupOf(resource, scope);
    this.groups[group]!.live++;
    const q = this.queues[cls];
    q.push(bytes, n, this.seq++, group);
    this.length++;
    const size = recordFieldBytes(n);
    q.bytes += size;
    this.bytes += size;
  }

  /** Lowest class with a record queued, or -1 when empty. */
  lowestClass(): number {
    for (let c = 0; c < this.classes; c++) if (this.queues[c].length > 0) return c;
    return -1;
  }

  /** Records queued of a class below `cls`. */
  countBelow(cls: number): number {
    let n = 0;
    for (let c = 0; c < cls && c < this.classes; c++) n += this.queues[c].length;
    return n;
  }

  /** Encoded bytes queued of a class below `cls`. */
  bytesBelow(cls: number): number {
    let n = 0;
    for (let c = 0; c < cls && c < this.classes; c++) n += this.queues[c].bytes;
    return n;
  }

  /** Discards the oldest record of class `cls` (which must be non-empty). */
  shed(cls: number): void {
    const q = this.queues[cls];
    this.forget(q, q.head);
    q.shift();
  }

  /** Discards the newest record of class `cls` (which must be non-empty). */
  shedNewest(cls: number): void {
    const q = this.queues[cls];
    this.forget(q, (q.head + q.length - 1) & (q.cap - 1));
    q.pop();
  }

  /** Sequence number of the oldest queued record, or Infinity when empty. */
  oldestSeq(): number {
    let min = Infinity;
    for (const q of this.queues) if (q.length > 0 && q.seq[q.head] < min) min = q.seq[q.head];
    return min;
  }

  // per-batch scratch, reused
  private readonly batchGroups: number[] = [];
  private pickSlab: Uint8Array[] = [];
  private pickOff = new Float64Array(0);
  private pickLen = new Float64Array(0);
  private pickGroup = new Int32Array(0);

  /**
   * Takes up to `max` of the oldest records, in arrival order across classes, and
   * assembles them into one request: records grouped by resource, then scope, in order
   * of first appearance (as the SDK's serializers group them).
   */
  take(max: number): EncodedBatch | undefined {
    if (this.length === 0) return undefined;
    if (this.pickOff.length < max) {
      this.pickOff = new Float64Array(max);
      this.pickLen = new Float64Array(max);
      this.pickGroup = new Int32Array(max);
    }
    const minSeq = this.oldestSeq();
    let n = 0;
    let minClass = Infinity;
    let maxClass = -1;
    const queues = this.queues;
    while (n < max && this.length > 0) {
      let best = -1;
      let bestSeq = Infinity;
      for (let c = 0; c < queues.length; c++) {
        const q = queues[c];
        if (q.length > 0 && q.seq[q.head] < bestSeq) {
          bestSeq = q.seq[q.head];
          best = c;
        }
      }
      const q = queues[best];
      const h = q.head;
      this.pickSlab[n] = q.headBytes();
      this.pickOff[n] = q.off[h];
      this.pickLen[n] = q.len[h];
      this.pickGroup[n] = q.group[h];
      if (best < minClass) minClass = best;
      if (best > maxClass) maxClass = best;
      this.forget(q, h, false);
      q.shift();
      n++;
    }

    // Group: resources in order of first appearance, scopes likewise within each. A batch
    // has few groups (usually one): a linear scan per group beats maps and lists.
    const order = this.batchGroups;
    order.length = 0;
    for (let i = 0; i < n; i++) {
      const g = this.pickGroup[i];
      if (order[order.length - 1] !== g && !order.includes(g)) order.push(g);
    }
    if (order.length > 1) {
      // stable: by the first appearance of each group's resource, then of the group
      const firstOfResource = new Map<Resource, number>();
      order.forEach((g, k) => {
        const r = this.groups[g]!.resource;
        if (!firstOfResource.has(r)) firstOfResource.set(r, k);
      });
      const rank = order.map((g, k) => [firstOfResource.get(this.groups[g]!.resource)!, k, g]);
      rank.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (let k = 0; k < rank.length; k++) order[k] = rank[k][2];
    }
    // sizes first, so that the request is written once into a buffer of its exact size
    const G = order.length;
    const scopeSize = new Float64Array(G);
    for (let k = 0; k < G; k++) {
      const [scHead, scTail] = this.scopeParts(this.groups[order[k]]!.scope);
      scopeSize[k] = scHead.length + scTail.length;
    }
    for (let i = 0; i < n; i++) {
      const g = this.pickGroup[i];
      scopeSize[G === 1 ? 0 : order.indexOf(g)] += recordFieldBytes(this.pickLen[i]);
    }
    const resSize: number[] = [];
    let total = 0;
    for (let k = 0; k < G; ) {
      const res = this.groups[order[k]]!.resource;
      const [resHead, resTail] = this.resourceParts(res);
      let r = resHead.length + resTail.length;
      let j = k;
      for (; j < G && this.groups[order[j]]!.resource === res; j++) r += 1 + varintSize(scopeSize[j]) + scopeSize[j];
      resSize.push(r);
      total += 1 + varintSize(r) + r;
      k = j;
    }
    const out = new Uint8Array(total);
    let p = 0;
    const varint = (v: number) => {
      while (v > 127) {
        out[p++] = (v & 127) | 128;
        v >>>= 7;
      }
      out[p++] = v;
    };
    const scopes: RecordGroup[] = [];
    let ri = 0;
    for (let k = 0; k < G; ) {
      const res = this.groups[order[k]]!.resource;
      const [resHead, resTail] = this.resourceParts(res);
      out[p++] = (1 << 3) | LEN;
      varint(resSize[ri++]);
      out.set(resHead, p);
      p += resHead.length;
      for (; k < G && this.groups[order[k]]!.resource === res; k++) {
        const g = order[k];
        const info = this.groups[g]!;
        scopes.push({ resource: info.resource, scope: info.scope });
        const [scHead, scTail] = this.scopeParts(info.scope);
        out[p++] = (2 << 3) | LEN;
        varint(scopeSize[k]);
        out.set(scHead, p);
        p += scHead.length;
        for (let i = 0; i < n; i++) {
          if (G > 1 && this.pickGroup[i] !== g) continue;
          const len = this.pickLen[i];
          out[p++] = (2 << 3) | LEN;
          varint(len);
          copy(this.pickSlab[i], this.pickOff[i], len, out, p);
          p += len;
        }
        out.set(scTail, p);
        p += scTail.length;
      }
      out.set(resTail, p);
      p += resTail.length;
    }
    for (let i = 0; i < n; i++) {
      this.pickSlab[i] = undefined as unknown as Uint8Array; // let go of the slabs
      this.release(this.pickGroup[i]);
    }
    return { bytes: out, count: n, minSeq, minClass, maxClass, scopes };
  }

  private groupOf(resource: Resource, scope: InstrumentationScope): number {
    let byScope = this.groupIds.get(resource);
    if (!byScope) this.groupIds.set(resource, (byScope = new Map()));
    let id = byScope.get(scope);
    if (id === undefined) {
      id = this.freeGroupIds.pop() ?? this.groups.length;
      this.groups[id] = { resource, scope, live: 0 };
      byScope.set(scope, id);
    }
    return id;
  }

  /** Accounts for the record at index `i` of `q` leaving the queue. */
  private forget(q: ClassQueue, i: number, release = true): void {
    this.length--;
    const size = recordFieldBytes(q.len[i]);
    q.bytes -= size;
    this.bytes -= size;
    if (release) this.release(q.group[i]);
  }

  private release(group: number): void {
    const info = this.groups[group]!;
    if (--info.live > 0) return;
    const byScope = this.groupIds.get(info.resource)!;
    byScope.delete(info.scope);
    if (byScope.size === 0) this.groupIds.delete(info.resource);
    this.groups[group] = undefined;
    this.freeGroupIds.push(group);
  }

  /** The `resource` field (tag, length, Resource) and the `schema_url` field of a ResourceX message. */
  private resourceParts(res: Resource): [Uint8Array, Uint8Array] {
    let head = this.resourceBytes.get(res);
    if (!head) {
      const w = this.w;
      w.reset();
      w.tag(1, LEN);
      const at = w.fork();
      encodeResource(w, res);
      w.join(at);
      head = w.toBytes();
      // a resource whose detectors are still running may gain attributes: encode it again next time
      if (!(res as { asyncAttributesPending?: boolean }).asyncAttributesPending) this.resourceBytes.set(res, head);
    }
    return [head, this.schemaUrl(res.schemaUrl)];
  }

  /** The `scope` field and the `schema_url` field of a ScopeX message. */
  private scopeParts(scope: InstrumentationScope): [Uint8Array, Uint8Array] {
    let head = this.scopeBytes.get(scope);
    if (!head) {
      const w = this.w;
      w.reset();
      w.tag(1, LEN);
      const at = w.fork();
      encodeScope(w, scope);
      w.join(at);
      head = w.toBytes();
      this.scopeBytes.set(scope, head);
    }
    return [head, this.schemaUrl(scope.schemaUrl)];
  }

  private readonly schemaUrls = new Map<string, Uint8Array>();

  private schemaUrl(url: string | undefined): Uint8Array {
    if (!url) return EMPTY;
    let b = this.schemaUrls.get(url);
    if (!b) {
      const w = this.w;
      w.reset();
      w.tag(3, LEN);
      w.string(url);
      b = w.toBytes();
      if (this.schemaUrls.size < 64) this.schemaUrls.set(url, b);
    }
    return b;
  }
}

const EMPTY = new Uint8Array(0);
