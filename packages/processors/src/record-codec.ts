/**
 * How the queue stores a record. The queue keeps records in flat columns (references
 * and numbers, a fixed number of each per record) instead of holding the objects the
 * SDK made: those then die young, and a full queue holds a fraction of the memory.
 * `decode` builds a fresh record for export: records are never reused, since an
 * exporter may keep what it was given (an in-memory exporter does).
 */
export interface RecordCodec<T> {
  /** References stored per record. */
  readonly refSlots: number;
  /** Numbers stored per record. */
  readonly numSlots: number;
  encode(item: T, refs: unknown[], r: number, nums: Float64Array, n: number): void;
  decode(refs: unknown[], r: number, nums: Float64Array, n: number): T;
}

/** Stores the object itself: for records that are small or cheap to hold (spans). */
export const IDENTITY_CODEC: RecordCodec<never> = {
  refSlots: 1,
  numSlots: 0,
  encode(item, refs, r) {
    refs[r] = item;
  },
  decode(refs, r) {
    return refs[r] as never;
  },
};
