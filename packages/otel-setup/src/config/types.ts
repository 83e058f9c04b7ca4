/** The effective configuration of @ccr/otel-setup. Every field has a default in defaults.ts. */
import type { LevelName } from '@ccr/otel-processors';
import type { PriceTable } from '../genai/pricing';
// the processors' level module alone (it needs only @opentelemetry/api): the disabled fast path stays light
export { LEVEL_NAMES } from '@ccr/otel-processors/dist/level';
export type { LevelName };
export type ProfileName = 'production' | 'development' | 'test' | 'default';
export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';
export type DiagLevelName = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';

export interface BatchingConfig {
  maxQueueSize: number;
  /** Most estimated bytes held at once (CCR_OTEL_MAX_QUEUE_BYTES). */
  maxQueueBytes: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  /** UTF-8 bytes of any one string or bytes value of a record; longer ones are cut and counted (CCR_OTEL_MAX_VALUE_BYTES). */
  maxValueBytes: number;
  /** UTF-16 units of an attribute's string value; Infinity: none (OTEL_{LOGRECORD,SPAN}_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT). */
  attributeValueLengthLimit: number;
}

export interface OtelSetupConfig {
  /** OTEL_SDK_DISABLED: nothing is started. */
  disabled: boolean;
  /** Which NODE_ENV profile was applied. */
  profile: ProfileName;
  serviceName: string;
  serviceVersion: string | undefined;
  /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes: Record<string, string>;
  /** Minimum severity of log records (LOG_LEVEL). */
  level: LevelName;
  /** Which signals leave the process over OTLP. */
  export: { logs: boolean; traces: boolean; metrics: boolean };
  exporter: {
    protocol: OtlpProtocol;
    /** Full URLs per signal (…/v1/logs etc). */
    endpoints: { logs: string; traces: string; metrics: string };
    /** Names only: header values never appear in the effective config. */
    headerNames: string[];
  };
  /** Readable echo of log records on stderr (development profile; OTEL_LOGS_EXPORTER=console). */
  consoleEcho: boolean;
  /** The SDK's console exporters on stdout (OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER list `console`). */
  consoleExport: { traces: boolean; metrics: boolean };
  /** OTEL_PROPAGATORS: tracecontext, baggage, b3, b3multi; empty = none (no propagator is set). */
  propagators: string[];
  /** OTEL_NODE_RESOURCE_DETECTORS: env, host, os, process, serviceinstance, container; empty = none. */
  resourceDetectors: string[];
  batching: { logs: BatchingConfig; spans: BatchingConfig };
  adaptive: {
    enabled: boolean;
    intervalMillis: number;
    warnThreshold: number;
    errorThreshold: number;
    hysteresis: number;
    recoverySamples: number;
  };
  requestTracking: {
    enabled: boolean;
    maxActive: number;
    ttlMs: number;
    sweepIntervalMs: number;
    /** Bytes at the start of a JSON request body looked at for "model" (and its last 1 KiB for "stream", "max_tokens"); 0 disables. */
    bodyPeekBytes: number;
  };
  /** GenAI attributes and metrics of upstream LLM calls (request tracking must be on). */
  genai: {
    /** Record the head of prompts and completions (redacted) on the span (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). */
    captureContent: boolean;
    /** Bytes of each captured text. */
    captureContentMaxBytes: number;
    /** Distinct model names in metric attributes before the rest become `_OTHER`. */
    maxModels: number;
    /** USD per million tokens by provider and model: gives ccr.cost.usd and the ccr.gen_ai.cost counter. */
    prices: PriceTable;
  };
  sampling: { sampler: SamplerName; ratio: number };
  metricExportIntervalMillis: number;
  instrumentations: { enabled: string[] | null; disabled: string[] };
  captureStdout: boolean;
  /** Also write captured JSON lines to the real stdout. */
  captureStdoutTee: boolean;
  leakWatch: {
    enabled: boolean;
    intervalMillis: number;
    windowMillis: number;
    /** Number of snapshots in each compared group (last N vs the N before). */
    samples: number;
    growthThreshold: number;
  };
  shutdown: {
    /** Deadline of the flush on SIGTERM/SIGINT (CCR_OTEL_SHUTDOWN_TIMEOUT). */
    timeoutMillis: number;
    /** Deadline of the flush when the process ends by itself, on beforeExit (CCR_OTEL_EXIT_FLUSH_TIMEOUT). */
    exitFlushMillis: number;
  };
  /**
   * Extra secret key names (any spelling) and value patterns (regular expression sources), on top of
   * the built-in ones (redact.ts). Config file key `redaction`; applies at run time.
   */
  redaction: { keys: string[]; patterns: string[] };
  /**
   * The durable spill (issue 8): failed batches go to disk and are replayed once the collector is
   * back; records still queued at exit are written there. `dir` false = off (the default; the
   * production profile puts it under the user's cache directory). Env CCR_OTEL_SPILL_DIR,
   * CCR_OTEL_SPILL_MAX_BYTES; file keys `spill.*`. One directory per service.name inside `dir`.
   */
  spill: { dir: string | false; maxBytes: number; maxAgeMillis: number; flushIntervalMillis: number; segmentBytes: number };
  /** OTEL_LOG_LEVEL: the SDK's own diagnostics on stderr. */
  diagLevel: DiagLevelName;
  /** CCR_OTEL_CONFIG: watched JSON file. */
  configFile: string | undefined;
}

/** A deep partial, the shape of a profile, a file or the env layer. */
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends Array<unknown> | null ? T[K] : T[K] extends object | undefined ? DeepPartial<T[K]> : T[K];
};
export type ConfigLayer = DeepPartial<OtelSetupConfig>;
