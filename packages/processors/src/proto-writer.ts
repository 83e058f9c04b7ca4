/**
 * A minimal protobuf writer over one growable buffer, reused for every record: nothing
 * is allocated per field. Nested messages reserve one byte for their length and shift
 * their content in the rare case it needs more (most fields of a log record or span
 * are under 128 bytes). Chosen over @bufbuild/protobuf's BinaryWriter, which allocates
 * a chunk per nested message: bench/writer.mjs compares the two.
 */
export class ProtoWriter {
  buf: Uint8Array;
  pos = 0;
  private view: DataView;

  constructor(initialSize = 4096) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  tag(field: number, wireType: number): void {
    this.varint32((field << 3) | wireType);
  }

  /** An unsigned varint below 2^32. */
  varint32(v: number): void {
    this.ensure(5);
    const b = this.buf;
    let p = this.pos;
    v >>>= 0;
    while (v > 127) {
      b[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** A signed 64-bit varint from an integral JS number (two's complement when negative). */
  varint64(value: number): void {
    if (value >= 0 && value <= 0xffffffff) return this.varint32(value);
    this.ensure(10);
    let lo: number;
    let hi: number;
    const abs = Math.abs(value);
    lo = abs >>> 0;
    hi = (abs / 4294967296) >>> 0;
    if (value < 0) {
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    }
    this.varintHiLo(hi, lo);
  }

  /** A signed 64-bit varint from a BigInt in int64 range (two's complement when negative). */
  varintBig(value: bigint): void {
    const u = BigInt.asUintN(64, value);
    this.ensure(10);
    this.varintHiLo(Number(u >> 32n), Number(u & 0xffffffffn));
  }

  /** The varint of hi * 2^32 + lo (both unsigned 32-bit); room for 10 bytes ensured. */
  private varintHiLo(hi: number, lo: number): void {
    const b = this.buf;
    let p = this.pos;
    while (hi > 0 || lo > 127) {
      b[p++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.ensure(8);
    this.view.setUint32(this.pos, lo >>> 0, true);
    this.view.setUint32(this.pos + 4, hi >>> 0, true);
    this.pos += 8;
  }

  /** An HrTime [seconds, nanos] as fixed64 nanoseconds, exactly (no float rounding). */
  hrTime(seconds: number, nanos: number): void {
    // seconds * 1e9 + nanos split into 32-bit halves without exceeding 2^53 in any step
    const sLo = seconds % 65536;
    const sHi = Math.floor(seconds / 65536);
    const a = sLo * 1e9 + nanos; // < 2^46
    const b = sHi * 1e9; // contributes b * 2^16
    const bLo = (b % 65536) * 65536; // < 2^32
    const low = a + bLo;
    const lo = low % 4294967296;
    const hi = Math.floor(low / 4294967296) + Math.floor(b / 65536);
    this.fixed64(lo, hi);
  }

  double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** A length-delimited UTF-8 string; lone surrogates become U+FFFD, as TextEncoder does. */
  string(s: string): void {
    const len = s.length;
    this.ensure(len * 3 + 5);
    const b = this.buf;
    // ASCII fast path: write in place, after a one-byte length when it fits
    if (len < 128) {
      const start = this.pos + 1;
      let p = start;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        b[p++] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = p;
        return;
      }
    }
    const at = this.fork();
    const { written } = encoder.encodeInto(s, b.subarray(this.pos));
    this.pos += written!;
    this.join(at);
  }

  /**
   * Like {@link string}, cut to at most `maxUnits` UTF-16 units and `maxBytes` UTF-8 bytes, always
   * at a character boundary (a surrogate pair is never split). Returns true when it cut.
   */
  stringLimited(s: string, maxUnits: number, maxBytes: number): boolean {
    let cut = false;
    if (s.length > maxUnits) {
      let n = maxUnits;
      // not between the halves of a pair: the cut would leave a lone high surrogate
      if (n > 0 && isHigh(s.charCodeAt(n - 1)) && isLow(s.charCodeAt(n))) n--;
      s = s.slice(0, n);
      cut = true;
    }
    if (s.length * 3 <= maxBytes) {
      this.string(s);
      return cut;
    }
    // may be longer than maxBytes in UTF-8: encodeInto stops before a character that does not fit
    const room = maxBytes;
    const at = this.fork();
    this.ensure(room);
    const { read, written } = encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + room));
    this.pos += written!;
    this.join(at);
    return cut || read! < s.length;
  }

  bytes(v: Uint8Array): void {
    this.varint32(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Raw bytes, no length (an already encoded message body). */
  raw(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Starts a nested message; returns what {@link join} needs. */
  fork(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends the nested message started at `at`: writes its length before it. */
  join(at: number): void {
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra);
    const b = this.buf;
    b.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    let v = len;
    let p = at;
    while (v > 127) {
      b[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    b[p] = v;
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

const encoder = new TextEncoder();

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

export function varintSize(v: number): number {
  if (v < 128) return 1;
  if (v < 16384) return 2;
  if (v < 2097152) return 3;
  if (v < 268435456) return 4;
  return 5;
}
