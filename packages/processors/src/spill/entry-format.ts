import { crc32 } from 'node:zlib';

/**
 * One spill entry on disk: a 32-byte header, then the payload (an encoded batch).
 *
 *   off size  field
 *     0   4   magic "CSP" + format version 1
 *     4   1   signal (0 logs, 1 traces, 2 metrics)
 *     5   1   priority (shedding drops the lowest first)
 *     6   1   state: 0 pending, 'T' tried (a send whose outcome is unknown: it may have arrived),
 *             'A' acknowledged (sent), 'D' dropped; the only byte written in place
 *     7   1   flags: bit 0 set, the payload is gzip-compressed (FLAG_GZIP); other bits unknown
 *     8   4   records in the batch (uint32 LE)
 *    12   8   created at, ms since the epoch (float64 LE)
 *    20   4   payload length (uint32 LE)
 *    24   4   CRC-32 of the payload
 *    28   4   CRC-32 of bytes 0-5 and 7-27 (the header without its state byte)
 *
 * The header checksum lets a reader trust a length before it skips by it; after a bad header
 * it looks for the next magic whose header checks out.
 *
 * 'T' came after the first segments were written, within version 1: a reader from before it
 * takes 'T' as pending (it replays the batch, without counting a possible duplicate), and
 * segments without any 'T' read as they always did; the rest of the entry is unchanged.
 *
 * The flags byte came later still, also within version 1: it was written 0 before, so older
 * segments read as uncompressed. An entry with a flag this reader does not know is skipped
 * whole (its header checks out, so its length can be trusted) and counted as corrupt. A reader
 * from before the flags sends a gzip payload as it is; the collector refuses it (HTTP 400),
 * counted as rejected.
 */
export const HEADER_BYTES = 32;
export const MAGIC = Buffer.from([0x43, 0x53, 0x50, 0x01]);
export const STATE_OFFSET = 6;
export const FLAGS_OFFSET = 7;
/** The payload is the gzip-compressed encoded batch. */
export const FLAG_GZIP = 0x01;
/** Flags this reader knows; an entry with any other is counted as corrupt. */
export const KNOWN_FLAGS = FLAG_GZIP;

export const STATE_PENDING = 0;
/**
 * A send started (or the batch came from an export that got no answer) and its outcome is
 * unknown: written before a replay sends it, so that a process killed between the
 * collector's answer and the 'A' mark leaves a batch its successor knows may arrive twice.
 */
export const STATE_TRIED = 0x54;
export const STATE_ACKED = 0x41;
export const STATE_DROPPED = 0x44;

export type SpillSignal = 'logs' | 'traces' | 'metrics';
export const SIGNALS: readonly SpillSignal[] = ['logs', 'traces', 'metrics'];

/** Largest payload one entry can hold (its length field is a uint32). */
export const MAX_PAYLOAD_BYTES = 0xffff_ffff;

export interface EntryHeader {
  signal: SpillSignal;
  priority: number;
  state: number;
  /** FLAG_GZIP, or 0 (scanSegment counts an entry with a flag outside KNOWN_FLAGS as corrupt). */
  flags: number;
  records: number;
  createdAt: number;
  payloadLength: number;
  payloadCrc: number;
}

function headerCrc(buf: Uint8Array, at: number): number {
  return crc32(buf.subarray(at + 7, at + 28), crc32(buf.subarray(at, at + 6)));
}

/** The header of an entry holding `payload` (stored as `flags` say), in `state` (pending or tried). */
export function encodeHeader(
  signal: SpillSignal,
  priority: number,
  records: number,
  createdAt: number,
  payload: Uint8Array,
  state: number = STATE_PENDING,
  flags = 0,
): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h[4] = SIGNALS.indexOf(signal);
  h[5] = priority;
  h[STATE_OFFSET] = state;
  h[FLAGS_OFFSET] = flags;
  h.writeUInt32LE(records, 8);
  h.writeDoubleLE(createdAt, 12);
  h.writeUInt32LE(payload.byteLength, 20);
  h.writeUInt32LE(crc32(payload), 24);
  h.writeUInt32LE(headerCrc(h, 0), 28);
  return h;
}

/** The header at `at`, or undefined when it is not a whole, valid header. */
export function decodeHeader(buf: Buffer, at: number): EntryHeader | undefined {
  if (at + HEADER_BYTES > buf.length) return undefined;
  if (buf[at] !== MAGIC[0] || buf[at + 1] !== MAGIC[1] || buf[at + 2] !== MAGIC[2] || buf[at + 3] !== MAGIC[3]) return undefined;
  if (buf.readUInt32LE(at + 28) !== headerCrc(buf, at)) return undefined;
  const signal = SIGNALS[buf[at + 4]];
  if (signal === undefined) return undefined;
  return {
    signal,
    priority: buf[at + 5],
    state: buf[at + 6],
    flags: buf[at + FLAGS_OFFSET],
    records: buf.readUInt32LE(at + 8),
    createdAt: buf.readDoubleLE(at + 12),
    payloadLength: buf.readUInt32LE(at + 20),
    payloadCrc: buf.readUInt32LE(at + 24),
  };
}

/** Whether `payload` matches the checksum in its header. */
export function payloadIntact(header: EntryHeader, payload: Uint8Array): boolean {
  return payload.byteLength === header.payloadLength && crc32(payload) === header.payloadCrc;
}

/** What a scan of one segment found. */
export interface ScannedEntry {
  offset: number;
  header: EntryHeader;
}
export interface SegmentScan {
  entries: ScannedEntry[];
  /**
   * Unreadable regions skipped, each with its header when that was whole (a payload cut
   * short by the end of the file: a torn tail; or an entry with a flag this reader does not
   * know) and undefined when the header itself was bad.
   */
  corrupt: Array<EntryHeader | undefined>;
}

/**
 * The entries of a segment file's contents, in order. Payloads are not checked here (the
 * replay checks each one as it reads it); a bad header or a payload cut short by the end of
 * the file is skipped and counted, and the scan goes on at the next header that checks out.
 */
export function scanSegment(buf: Buffer): SegmentScan {
  const out: SegmentScan = { entries: [], corrupt: [] };
  let at = 0;
  while (at < buf.length) {
    const header = decodeHeader(buf, at);
    if (header && at + HEADER_BYTES + header.payloadLength <= buf.length) {
      if ((header.flags & ~KNOWN_FLAGS) !== 0) out.corrupt.push(header);
      else out.entries.push({ offset: at, header });
      at += HEADER_BYTES + header.payloadLength;
      continue;
    }
    out.corrupt.push(header);
    // Resynchronise on the next header that checks out.
    let next = buf.indexOf(MAGIC, at + 1);
    while (next >= 0 && !decodeHeader(buf, next)) next = buf.indexOf(MAGIC, next + 1);
    if (next < 0) break;
    at = next;
  }
  return out;
}
