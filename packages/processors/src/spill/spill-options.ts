import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { InvalidOptionError } from '../options';
import type { SpillSignal } from './entry-format';

/** Why the spill let a batch go without sending it. */
export type SpillDropReason =
  /** Shed to keep the spill under maxBytes (lowest priority, then oldest, first). */
  | 'spill_full'
  /** Older than maxAgeMillis. */
  | 'expired'
  /** Its bytes on disk were torn or did not match their checksum. */
  | 'corrupt'
  /** A write failed (ENOSPC, EACCES, EROFS, directory gone). */
  | 'disk_error'
  /** The replay's send answered 'drop' (the receiver refused it for good). */
  | 'rejected';

export const SPILL_DROP_REASONS: readonly SpillDropReason[] = ['spill_full', 'expired', 'corrupt', 'disk_error', 'rejected'];

export interface DurableSpillOptions {
  /** Root directory; the spill lives in `<dir>/<serviceName>/<pid>-<start>-<n>/`. Required. */
  dir: string;
  /** Processes of one service adopt one another's directories. Default 'unknown_service'. */
  serviceName?: string;
  /** Most bytes (headers + payloads) of batches held, adopted ones included. Default 256 MiB. */
  maxBytes?: number;
  /** Batches older than this are dropped as `expired`. Default 24 h. */
  maxAgeMillis?: number;
  /** How often buffered batches are written (asynchronously). Default 1000 ms. */
  flushIntervalMillis?: number;
  /** A segment file is closed and a new one started once it would grow past this. Default 8 MiB. */
  segmentBytes?: number;
  /**
   * Called for every batch the spill lets go without sending: by then the spill had accepted
   * it, so this is where its records get counted. (A corrupt region whose header is unreadable
   * has no known signal or records: it shows only in stats().dropped.corrupt.batches.)
   * `adopted` is true for a batch a dead process appended (see SpilledBatch.adopted).
   */
  onDrop?: (reason: SpillDropReason, signal: SpillSignal, records: number, adopted: boolean) => void;
}

export type ResolvedDurableSpillOptions = Required<Omit<DurableSpillOptions, 'onDrop'>> & Pick<DurableSpillOptions, 'onDrop'>;

/** Defaults in one place. */
export const SPILL_DEFAULTS = Object.freeze({
  serviceName: 'unknown_service',
  maxBytes: 256 * 1024 * 1024,
  maxAgeMillis: 24 * 60 * 60 * 1000,
  flushIntervalMillis: 1000,
  segmentBytes: 8 * 1024 * 1024,
});

type NumericKey = 'maxBytes' | 'maxAgeMillis' | 'flushIntervalMillis' | 'segmentBytes';

/** [min, max] per numeric option; timers stay below Node's 2^31-1 ms limit. */
const RANGE: Record<NumericKey, [number, number]> = {
  maxBytes: [1024, Number.MAX_SAFE_INTEGER],
  maxAgeMillis: [1, Number.MAX_SAFE_INTEGER],
  flushIntervalMillis: [1, 2 ** 31 - 1],
  segmentBytes: [1024, 2 ** 32],
};

function inRange(key: NumericKey, v: unknown): v is number {
  const [min, max] = RANGE[key];
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Checks options given in code; throws {@link InvalidOptionError} naming the first wrong one. */
export function resolveDurableSpillOptions(options: DurableSpillOptions): ResolvedDurableSpillOptions {
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new InvalidOptionError(`dir must be a non-empty path, got ${JSON.stringify(options.dir)}`);
  }
  const out: ResolvedDurableSpillOptions = { ...SPILL_DEFAULTS, dir: options.dir, onDrop: options.onDrop };
  if (options.serviceName !== undefined) {
    if (typeof options.serviceName !== 'string' || options.serviceName === '') {
      throw new InvalidOptionError(`serviceName must be a non-empty string, got ${JSON.stringify(options.serviceName)}`);
    }
    out.serviceName = options.serviceName;
  }
  for (const key of Object.keys(RANGE) as NumericKey[]) {
    const v = options[key];
    if (v === undefined) continue;
    if (!inRange(key, v)) {
      throw new InvalidOptionError(`${key} must be an integer in [${RANGE[key][0]}, ${RANGE[key][1]}], got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  return out;
}

/** The `spill.*` keys of the configuration file. */
export interface SpillFileLayer {
  /** A directory turns the spill on there; false turns it off. */
  dir?: string | false;
  maxBytes?: number;
  maxAgeMillis?: number;
  flushIntervalMillis?: number;
  segmentBytes?: number;
}

export interface ResolveSpillInput {
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** The `spill` object of the configuration file. */
  file?: SpillFileLayer;
  /** The production profile turns the spill on under the user's cache directory. */
  production?: boolean;
  /** Where bad values are reported; they are then replaced by their default. */
  warn?: (message: string) => void;
}

/** What the configuration asks for: undefined when the spill is off. */
export type SpillConfig = Pick<ResolvedDurableSpillOptions, 'dir' | NumericKey>;

/** `$XDG_CACHE_HOME/ccr-otel/spill`, else `~/.cache/ccr-otel/spill`. */
export function defaultSpillDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG specification ignores a relative value.
  const cache = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.cache');
  return join(cache, 'ccr-otel', 'spill');
}

const OFF = new Set(['off', 'false', 'none', '0']);

/**
 * The spill configuration from the environment, the file's `spill.*` keys and the profile,
 * in that order of precedence. CCR_OTEL_SPILL_DIR set to a path turns the spill on there
 * (`off` turns it off); CCR_OTEL_SPILL_MAX_BYTES bounds it. A bad value is reported through
 * `warn` and its default used; nothing here throws.
 */
export function resolveSpillOptions(input: ResolveSpillInput = {}): SpillConfig | undefined {
  const env = input.env ?? process.env;
  const file = input.file ?? {};
  const warn = input.warn ?? (() => {});

  let dir: string | undefined = input.production ? defaultSpillDir(env) : undefined;
  if (file.dir === false) dir = undefined;
  else if (typeof file.dir === 'string' && file.dir.trim() !== '') dir = file.dir.trim();
  else if (file.dir !== undefined) warn(`spill.dir=${JSON.stringify(file.dir)} is not a path or false; ignored`);
  const envDir = env.CCR_OTEL_SPILL_DIR?.trim();
  if (envDir) dir = OFF.has(envDir.toLowerCase()) ? undefined : envDir;
  if (dir === undefined) return undefined;

  const { maxBytes, maxAgeMillis, flushIntervalMillis, segmentBytes } = SPILL_DEFAULTS;
  const out: SpillConfig = { dir, maxBytes, maxAgeMillis, flushIntervalMillis, segmentBytes };
  for (const key of Object.keys(RANGE) as NumericKey[]) {
    const v = file[key];
    if (v === undefined) continue;
    if (inRange(key, v)) out[key] = v;
    else warn(`spill.${key}=${JSON.stringify(v)} is not an integer in [${RANGE[key][0]}, ${RANGE[key][1]}]; using the default ${out[key]}`);
  }
  const rawMax = env.CCR_OTEL_SPILL_MAX_BYTES?.trim();
  if (rawMax) {
    const v = Number(rawMax);
    if (inRange('maxBytes', v)) out.maxBytes = v;
    else warn(`CCR_OTEL_SPILL_MAX_BYTES=${JSON.stringify(rawMax)} is not an integer in [${RANGE.maxBytes[0]}, ${RANGE.maxBytes[1]}]; using ${out.maxBytes}`);
  }
  return out;
}
