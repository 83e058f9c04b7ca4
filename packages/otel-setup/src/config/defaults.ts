import { SPILL_DEFAULTS } from '@ccr/otel-processors/dist/spill/spill-options';
import { BATCHING_DEFAULTS } from '@ccr/otel-processors/dist/options';
import type { OtelSetupConfig } from './types';

/** The processors' value limits (their defaults are the one place: options.ts). */
const VALUE_LIMITS = { maxValueBytes: BATCHING_DEFAULTS.maxValueBytes, attributeValueLengthLimit: BATCHING_DEFAULTS.attributeValueLengthLimit };

/** Built-in defaults: the lowest layer. Everything else overrides these. */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

export function defaultConfig(): OtelSetupConfig {
  return {
    disabled: false,
    profile: 'default',
    serviceName: 'unknown_service:node',
    serviceVersion: undefined,
    resourceAttributes: {},
    level: 'info',
    export: { logs: true, traces: true, metrics: true },
    exporter: {
      protocol: 'http/protobuf',
      endpoints: {
        logs: `${DEFAULT_OTLP_ENDPOINT}/v1/logs`,
        traces: `${DEFAULT_OTLP_ENDPOINT}/v1/traces`,
        metrics: `${DEFAULT_OTLP_ENDPOINT}/v1/metrics`,
      },
      headerNames: [],
    },
    consoleEcho: false,
    consoleExport: { traces: false, metrics: false },
    propagators: ['tracecontext', 'baggage'],
    resourceDetectors: ['env', 'host', 'os', 'process', 'serviceinstance', 'container'],
    batching: {
      logs: { maxQueueSize: 65536, maxQueueBytes: 64 * 1024 * 1024, maxExportBatchSize: 512, scheduledDelayMillis: 1000, exportTimeoutMillis: 30000, ...VALUE_LIMITS },
      spans: { maxQueueSize: 65536, maxQueueBytes: 64 * 1024 * 1024, maxExportBatchSize: 512, scheduledDelayMillis: 1000, exportTimeoutMillis: 30000, ...VALUE_LIMITS },
    },
    adaptive: {
      enabled: true,
      intervalMillis: 1000,
      warnThreshold: 0.6,
      errorThreshold: 0.8,
      hysteresis: 0.1,
      recoverySamples: 5,
    },
    requestTracking: { enabled: true, maxActive: 10000, ttlMs: 3600000, sweepIntervalMs: 30000, bodyPeekBytes: 4096 },
    genai: { captureContent: false, captureContentMaxBytes: 2048, maxModels: 100, prices: {} },
    sampling: { sampler: 'parentbased_always_on', ratio: 1 },
    metricExportIntervalMillis: 60000,
    instrumentations: { enabled: null, disabled: [] },
    captureStdout: false,
    captureStdoutTee: false,
    leakWatch: { enabled: true, intervalMillis: 30000, windowMillis: 24 * 3600 * 1000, samples: 10, growthThreshold: 0.1 },
    shutdown: { timeoutMillis: 5000, exitFlushMillis: 1000 },
    redaction: { keys: [], patterns: [] },
    spill: {
      dir: false,
      maxBytes: SPILL_DEFAULTS.maxBytes,
      maxAgeMillis: SPILL_DEFAULTS.maxAgeMillis,
      flushIntervalMillis: SPILL_DEFAULTS.flushIntervalMillis,
      segmentBytes: SPILL_DEFAULTS.segmentBytes,
    },
    diagLevel: 'none',
    configFile: undefined,
  };
}

/** Every instrumentation this package knows, by short name (as in OTEL_NODE_ENABLED_INSTRUMENTATIONS). */
export const KNOWN_INSTRUMENTATIONS = ['http', 'undici', 'pino', 'winston', 'runtime-node'] as const;
export type InstrumentationName = (typeof KNOWN_INSTRUMENTATIONS)[number];
