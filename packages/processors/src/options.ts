import { diag, type MeterProvider } from '@opentelemetry/api';
import type { ExportSpill } from './export-spill';

/**
 * Options shared by {@link BatchingLogRecordProcessor} and {@link BatchingSpanProcessor}.
 * Every option that is absent falls back to the matching standard variable
 * (OTEL_BLRP_* for logs, OTEL_BSP_* for spans), then to the default below.
 */
export interface BatchingOptions {
  /** Most records held at once (queued or waiting for a retry). Default 65,536. Env: *_MAX_QUEUE_SIZE. */
  maxQueueSize?: number;
  /** Most estimated bytes held at once. Default 64 MiB. Env: CCR_OTEL_MAX_QUEUE_BYTES. */
  maxQueueBytes?: number;
  /** Most records in one export. Default 512; must be <= maxQueueSize. Env: *_MAX_EXPORT_BATCH_SIZE. */
  maxExportBatchSize?: number;
  /** Longest a record waits for a batch to fill before it is sent anyway. Default 1000 ms. Env: *_SCHEDULE_DELAY. */
  scheduledDelayMillis?: number;
  /** An export that has not called back by then is cut off and its records counted as export_timeout. Default 30,000 ms. Env: *_EXPORT_TIMEOUT. */
  exportTimeoutMillis?: number;
  /** Exports in flight at once. Default 16 (the SDK's processors allow 1). */
  maxConcurrentExports?: number;
  /** Attempts per batch, the first included, before its records are counted as export_failed. Default 3. */
  maxExportAttempts?: number;
  /** First retry delay; doubles per attempt, with full jitter. Default 500 ms. */
  retryBaseDelayMillis?: number;
  /** Least time between two diag warnings about drops. Default 5,000 ms. */
  dropWarningIntervalMillis?: number;
  /** Longest forceFlush() waits when called without a timeout (the SDK passes none). Default 30,000 ms. */
  forceFlushTimeoutMillis?: number;
  /** Longest shutdown() waits when called without a timeout; what is still held then counts as `shutdown`. Default 30,000 ms. */
  shutdownTimeoutMillis?: number;
  /**
   * Where batches go when an export fails or times out, instead of waiting in memory for a
   * retry: replayed oldest first once the collector accepts again, and written there
   * synchronously at exit (spillSync). Shared by the log and span processors of a service.
   * Needs an encoded-batch exporter (OtlpHttpExporter). Default: none (retries in memory).
   */
  spill?: ExportSpill;
  /**
   * UTF-8 bytes of any one string or bytes value of a record (the body, an attribute, a value
   * nested in either, a span's name): a longer one is cut at a character boundary and counted in
   * stats().truncated. Default 1 MiB. Env: CCR_OTEL_MAX_VALUE_BYTES.
   */
  maxValueBytes?: number;
  /**
   * UTF-16 units of an attribute's string value (bytes of a bytes value; each element of an array
   * or map), as the SDK's attributeValueLengthLimit, but counted (stats().truncated) and never
   * splitting a surrogate pair. Default: none (Infinity). Env: OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT /
   * OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, else OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT.
   */
  attributeValueLengthLimit?: number;
  /** When given, the processor's counts are exported as metrics (otel.sdk.processor.*). */
  meterProvider?: MeterProvider;
  /** Where OTEL_* variables are read from. Default process.env. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedBatchingOptions {
  maxQueueSize: number;
  maxQueueBytes: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  maxConcurrentExports: number;
  maxExportAttempts: number;
  retryBaseDelayMillis: number;
  dropWarningIntervalMillis: number;
  forceFlushTimeoutMillis: number;
  shutdownTimeoutMillis: number;
  maxValueBytes: number;
  attributeValueLengthLimit: number;
}

/** Defaults in one place. */
export const BATCHING_DEFAULTS: Readonly<ResolvedBatchingOptions> = Object.freeze({
  maxQueueSize: 65_536,
  maxQueueBytes: 64 * 1024 * 1024,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 30_000,
  maxConcurrentExports: 16,
  maxExportAttempts: 3,
  retryBaseDelayMillis: 500,
  dropWarningIntervalMillis: 5000,
  forceFlushTimeoutMillis: 30_000,
  shutdownTimeoutMillis: 30_000,
  maxValueBytes: 1024 * 1024,
  attributeValueLengthLimit: Infinity,
});

/** The standard variable prefix for each signal. */
export type EnvPrefix = 'OTEL_BLRP' | 'OTEL_BSP';

const ENV_SUFFIX: Partial<Record<keyof ResolvedBatchingOptions, string>> = {
  maxQueueSize: 'MAX_QUEUE_SIZE',
  maxExportBatchSize: 'MAX_EXPORT_BATCH_SIZE',
  scheduledDelayMillis: 'SCHEDULE_DELAY',
  exportTimeoutMillis: 'EXPORT_TIMEOUT',
};

/** Thrown for an option or variable that cannot be used; the message names it. */
export class InvalidOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidOptionError';
  }
}

/** Node's timers fire after 1 ms for any delay above this (a 32-bit signed overflow). */
export const MAX_TIMER_MILLIS = 2_147_483_647;

function check(name: string, value: unknown, key: keyof ResolvedBatchingOptions): number {
  if (value === Infinity && UNBOUNDED.has(key)) return value;
  if (typeof value !== 'number' || !Number.isFinite(value) || !Number.isInteger(value)) {
    throw new InvalidOptionError(`${name} must be an integer, got ${JSON.stringify(value)}`);
  }
  const min = MINIMUM[key];
  if (value < min) throw new InvalidOptionError(`${name} must be >= ${min}, got ${value}`);
  if (TIMES.has(key) && value > MAX_TIMER_MILLIS) {
    throw new InvalidOptionError(`${name} must be <= ${MAX_TIMER_MILLIS} ms (the longest timer Node.js keeps), got ${value}`);
  }
  return value;
}

/**
 * A standard variable's value, or undefined when it is unset or unusable. As the specification asks
 * of environment variables, a bad value is reported (one diag warning naming it and the default in
 * force) and ignored, never thrown: an explicit option is a programming error, a variable is not.
 */
function fromEnv(env: Record<string, string | undefined>, variable: string, key: keyof ResolvedBatchingOptions): number | undefined {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return check(variable, Number(raw.trim()), key);
  } catch (e) {
    diag.warn(`${(e as Error).message.replace(/got .*$/, `got ${JSON.stringify(raw)}`)}; using ${BATCHING_DEFAULTS[key]}`);
    return undefined;
  }
}

const MINIMUM: Record<keyof ResolvedBatchingOptions, number> = {
  maxQueueSize: 1,
  maxQueueBytes: 1024,
  maxExportBatchSize: 1,
  scheduledDelayMillis: 0,
  exportTimeoutMillis: 1,
  maxConcurrentExports: 1,
  maxExportAttempts: 1,
  retryBaseDelayMillis: 0,
  dropWarningIntervalMillis: 0,
  forceFlushTimeoutMillis: 0,
  shutdownTimeoutMillis: 0,
  maxValueBytes: 1,
  attributeValueLengthLimit: 1,
};

/** Options that may be Infinity (no limit). */
const UNBOUNDED = new Set<keyof ResolvedBatchingOptions>(['attributeValueLengthLimit']);

/** The standard variables of the attribute value length limit: the signal's own, then the general one. */
const ATTRIBUTE_VALUE_LENGTH_VARIABLES: Record<EnvPrefix, string[]> = {
  OTEL_BLRP: ['OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'],
  OTEL_BSP: ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'],
};

const TIMES = new Set<keyof ResolvedBatchingOptions>(['scheduledDelayMillis', 'exportTimeoutMillis', 'retryBaseDelayMillis', 'dropWarningIntervalMillis', 'forceFlushTimeoutMillis', 'shutdownTimeoutMillis']);

/** The options that can change while a processor runs (see setOptions). */
export type BatchingLimits = Partial<Omit<ResolvedBatchingOptions, 'dropWarningIntervalMillis'>>;

/** Applies `patch` to resolved options, with the same checks as at construction. */
export function updateBatchingOptions(current: ResolvedBatchingOptions, patch: BatchingLimits): ResolvedBatchingOptions {
  const out = { ...current };
  for (const key of Object.keys(patch) as Array<keyof BatchingLimits>) {
    const v = patch[key];
    if (v === undefined) continue;
    if (!(key in MINIMUM)) throw new InvalidOptionError(`unknown option ${key}`);
    out[key] = check(key, v, key);
  }
  if (out.maxExportBatchSize > out.maxQueueSize) {
    throw new InvalidOptionError(
      `maxExportBatchSize (${out.maxExportBatchSize}) must be <= maxQueueSize (${out.maxQueueSize})`,
    );
  }
  return out;
}

/**
 * Resolves options: explicit option, else the standard variable, else the default.
 * Throws {@link InvalidOptionError} naming the option (or variable) that is wrong.
 */
export function resolveBatchingOptions(
  options: BatchingOptions,
  prefix: EnvPrefix,
): ResolvedBatchingOptions {
  const env = options.env ?? process.env;
  const out = { ...BATCHING_DEFAULTS } as ResolvedBatchingOptions;
  const fromVariables = new Set<keyof ResolvedBatchingOptions>();
  for (const key of Object.keys(BATCHING_DEFAULTS) as Array<keyof ResolvedBatchingOptions>) {
    const given = options[key];
    if (given !== undefined) {
      out[key] = check(key, given, key);
      continue;
    }
    const variables =
      key === 'maxQueueBytes' ? ['CCR_OTEL_MAX_QUEUE_BYTES']
      : key === 'maxValueBytes' ? ['CCR_OTEL_MAX_VALUE_BYTES']
      : key === 'attributeValueLengthLimit' ? ATTRIBUTE_VALUE_LENGTH_VARIABLES[prefix]
      : ENV_SUFFIX[key] ? [`${prefix}_${ENV_SUFFIX[key]}`] : [];
    for (const variable of variables) {
      const value = fromEnv(env, variable, key);
      if (value !== undefined) {
        out[key] = value;
        fromVariables.add(key);
        break;
      }
    }
  }
  if (out.maxExportBatchSize > out.maxQueueSize && (fromVariables.has('maxExportBatchSize') || fromVariables.has('maxQueueSize'))) {
    // as the SDK's processors do with the standard variables: the batch is cut to the queue
    diag.warn(`${prefix}_MAX_EXPORT_BATCH_SIZE (${out.maxExportBatchSize}) must be <= the queue size (${out.maxQueueSize}); using ${out.maxQueueSize}`);
    out.maxExportBatchSize = out.maxQueueSize;
  }
  if (out.maxExportBatchSize > out.maxQueueSize) {
    throw new InvalidOptionError(
      `maxExportBatchSize (${out.maxExportBatchSize}) must be <= maxQueueSize (${out.maxQueueSize})`,
    );
  }
  return out;
}
