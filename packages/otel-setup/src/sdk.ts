import { context, diag, DiagConsoleLogger, DiagLogLevel, logs, metrics, propagation, trace } from '@opentelemetry/api';
import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, suppressTracing, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter, LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { BatchingLogRecordProcessor, BatchingSpanProcessor, LevelController, LoadMonitor, RequestTracker } from '@ccr/otel-processors';
import type { OtelSetupConfig } from './config/types';
import { ConsoleEchoProcessor } from './console-echo';
import { enableInstrumentations, selectInstrumentations } from './instrumentations';
import { LeakWatch } from './leak-watch';
import { RedactingSpanProcessor } from './redact';
import { HttpRequestTracking } from './request-tracking';
import { buildResource } from './resource';
import { ReconfigurableSampler } from './sampler';
import { StdoutCapture } from './stdout-capture';
import { withDeadline } from './shutdown';

/**
 * Wires the providers directly (lighter than sdk-node): one LoggerProvider with the
 * BatchingLogRecordProcessor (gated by a LevelController), one TracerProvider with the
 * BatchingSpanProcessor, one MeterProvider with a periodic OTLP reader, the LoadMonitor that sees
 * both queues and the RequestTracker, and the instrumentations.
 */
export class Telemetry {
  readonly level: LevelController;
  readonly loggerProvider: LoggerProvider;
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  readonly tracker: RequestTracker;
  readonly logProcessor: BatchingLogRecordProcessor | undefined;
  readonly spanProcessor: BatchingSpanProcessor | undefined;
  readonly monitor: LoadMonitor | undefined;
  readonly sampler: ReconfigurableSampler;
  readonly requestTracking: HttpRequestTracking | undefined;
  readonly stdoutCapture: StdoutCapture | undefined;
  readonly leakWatch: LeakWatch | undefined;
  private readonly instrumentations: Instrumentation[];
  private readonly contextManager: AsyncLocalStorageContextManager;
  private shutdownPromise: Promise<void> | undefined;

  constructor(readonly config: Readonly<OtelSetupConfig>) {
    const cfg = config;
    if (cfg.diagLevel !== 'none') {
      const map: Record<string, DiagLogLevel> = {
        error: DiagLogLevel.ERROR,
        warn: DiagLogLevel.WARN,
        info: DiagLogLevel.INFO,
        debug: DiagLogLevel.DEBUG,
        verbose: DiagLogLevel.VERBOSE,
        all: DiagLogLevel.ALL,
      };
      diag.setLogger(new DiagConsoleLogger(), { logLevel: map[cfg.diagLevel], suppressOverrideMessage: true });
    }
    this.contextManager = new AsyncLocalStorageContextManager();
    context.setGlobalContextManager(this.contextManager.enable());
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));

    const resource = buildResource(cfg);

    // metrics first: the processors and the tracker report into it
    const readers = [];
    if (cfg.export.metrics) {
      readers.push(
        new PeriodicExportingMetricReader({
          exporter: metricExporter(cfg),
          exportIntervalMillis: cfg.metricExportIntervalMillis,
          exportTimeoutMillis: Math.min(30000, cfg.metricExportIntervalMillis),
        }),
      );
    }
    this.meterProvider = new MeterProvider({ resource, readers });
    const meterProvider = this.meterProvider as unknown as ApiMeterProvider;
    metrics.setGlobalMeterProvider(meterProvider);

    this.level = new LevelController({ level: cfg.level });
    const logProcessors: LogRecordProcessor[] = [];
    if (cfg.export.logs) {
      this.logProcessor = new BatchingLogRecordProcessor({
        exporter: logExporter(cfg),
        level: this.level,
        meterProvider,
        ...cfg.batching.logs,
      });
      logProcessors.push(this.logProcessor);
    }
    if (cfg.consoleEcho) logProcessors.push(new ConsoleEchoProcessor(this.level));
    this.loggerProvider = new LoggerProvider({ resource, processors: logProcessors });
    logs.setGlobalLoggerProvider(this.loggerProvider);

    this.sampler = new ReconfigurableSampler(cfg.sampling.sampler, cfg.sampling.ratio);
    const spanProcessors: SpanProcessor[] = [new RedactingSpanProcessor()];
    if (cfg.export.traces) {
      this.spanProcessor = new BatchingSpanProcessor({ exporter: spanExporter(cfg), meterProvider, ...cfg.batching.spans });
      spanProcessors.push(this.spanProcessor);
    }
    this.tracerProvider = new TracerProvider({ resource, sampler: this.sampler, spanProcessors });
    trace.setGlobalTracerProvider(this.tracerProvider);

    const selfLogger = this.loggerProvider.getLogger('@ccr/otel-setup');
    let monitor: LoadMonitor | undefined;
    this.tracker = new RequestTracker({
      tracer: this.tracerProvider.getTracer('@ccr/otel-setup'),
      maxActive: cfg.requestTracking.maxActive,
      ttlMs: cfg.requestTracking.ttlMs,
      sweepIntervalMs: cfg.requestTracking.sweepIntervalMs,
      meterProvider,
      load: () => monitor?.load ?? 0,
    });
    if (cfg.adaptive.enabled) {
      const sources: Array<() => number> = [() => this.tracker.load()];
      if (this.logProcessor) sources.push(() => this.logProcessor!.queueFill());
      if (this.spanProcessor) sources.push(() => this.spanProcessor!.queueFill());
      monitor = new LoadMonitor({
        level: this.level,
        sources,
        intervalMillis: cfg.adaptive.intervalMillis,
        warnThreshold: cfg.adaptive.warnThreshold,
        errorThreshold: cfg.adaptive.errorThreshold,
        hysteresis: cfg.adaptive.hysteresis,
        recoverySamples: cfg.adaptive.recoverySamples,
        logger: selfLogger,
        meterProvider,
      });
      monitor.start();
    }
    this.monitor = monitor;

    const names = selectInstrumentations(cfg);
    if (cfg.requestTracking.enabled) {
      this.requestTracking = new HttpRequestTracking({
        tracker: this.tracker,
        bodyPeekBytes: cfg.requestTracking.bodyPeekBytes,
        serverSpans: names.includes('http') && cfg.export.traces !== undefined,
        ignoreHosts: Object.values(cfg.exporter.endpoints).map(hostOf),
      });
      this.requestTracking.start();
    }
    const rt = this.requestTracking;
    this.instrumentations = enableInstrumentations(
      names,
      { tracerProvider: this.tracerProvider, meterProvider, loggerProvider: this.loggerProvider },
      rt ? { onServerSpan: (span, req) => rt.onServerSpan(span, req) } : {},
    );

    if (cfg.captureStdout) {
      this.stdoutCapture = new StdoutCapture({ logger: this.loggerProvider.getLogger('stdout'), tee: cfg.captureStdoutTee });
      this.stdoutCapture.start();
    }
    if (cfg.leakWatch.enabled) {
      this.leakWatch = new LeakWatch({ logger: selfLogger, meterProvider, ...cfg.leakWatch });
      this.leakWatch.start();
    }
  }

  /**
   * Re-applies the settings that may change at run time (from the config file): level,
   * adaptive thresholds, sampling ratio, batch limits and request-tracking limits.
   * Returns what could not be applied (with the reason); the running values of those stay.
   */
  reconfigure(next: Readonly<OtelSetupConfig>): string[] {
    const ignored: string[] = [];
    const attempt = (what: string, apply: () => void) => {
      try {
        apply();
      } catch (err) {
        ignored.push(`${what} (${(err as Error).message})`);
      }
    };
    attempt('level', () => this.level.setConfiguredLevel(next.level));
    attempt('adaptive thresholds', () =>
      this.monitor?.setThresholds({ warnThreshold: next.adaptive.warnThreshold, errorThreshold: next.adaptive.errorThreshold }),
    );
    attempt('sampling ratio', () => this.sampler.setRatio(next.sampling.ratio));
    attempt('batching.logs', () => this.logProcessor?.setOptions(next.batching.logs));
    attempt('batching.spans', () => this.spanProcessor?.setOptions(next.batching.spans));
    const { maxActive, ttlMs, sweepIntervalMs } = next.requestTracking;
    const prev = this.config.requestTracking;
    attempt('requestTracking limits', () =>
      this.tracker.setLimits({
        maxActive: maxActive !== prev.maxActive ? maxActive : undefined,
        ttlMs: ttlMs !== prev.ttlMs ? ttlMs : undefined,
        sweepIntervalMs: sweepIntervalMs !== prev.sweepIntervalMs ? sweepIntervalMs : undefined,
      }),
    );
    (this as { config: Readonly<OtelSetupConfig> }).config = next;
    return ignored;
  }

  forceFlush(): Promise<void> {
    return Promise.allSettled([
      this.tracerProvider.forceFlush(),
      this.loggerProvider.forceFlush(),
      this.meterProvider.forceFlush(),
    ]).then(() => undefined);
  }

  shutdown(timeoutMillis = this.config.shutdown.timeoutMillis): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.stdoutCapture?.stop();
    this.leakWatch?.stop();
    this.monitor?.stop();
    this.requestTracking?.stop();
    this.tracker.shutdown();
    // spans first: their end may still emit logs; metrics last
    const all = (async () => {
      await this.tracerProvider.shutdown().catch(() => undefined);
      await this.loggerProvider.shutdown().catch(() => undefined);
      await this.meterProvider.shutdown().catch(() => undefined);
    })();
    this.shutdownPromise = withDeadline(all, timeoutMillis).then(() => {
      for (const i of this.instrumentations) i.disable();
    });
    return this.shutdownPromise;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

function logExporter(cfg: Readonly<OtelSetupConfig>): LogRecordExporter {
  const url = cfg.exporter.endpoints.logs;
  if (cfg.exporter.protocol === 'http/json') {
    const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http') as typeof import('@opentelemetry/exporter-logs-otlp-http');
    return suppressed(new OTLPLogExporter({ url }) as unknown as LogRecordExporter);
  }
  const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto') as typeof import('@opentelemetry/exporter-logs-otlp-proto');
  return suppressed(new OTLPLogExporter({ url }) as unknown as LogRecordExporter);
}

function spanExporter(cfg: Readonly<OtelSetupConfig>): SpanExporter {
  const url = cfg.exporter.endpoints.traces;
  if (cfg.exporter.protocol === 'http/json') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return suppressed(new OTLPTraceExporter({ url }) as unknown as SpanExporter);
  }
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return suppressed(new OTLPTraceExporter({ url }) as unknown as SpanExporter);
}

function metricExporter(cfg: Readonly<OtelSetupConfig>): PushMetricExporter {
  const url = cfg.exporter.endpoints.metrics;
  if (cfg.exporter.protocol === 'http/json') {
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
    return suppressed(new OTLPMetricExporter({ url }) as unknown as PushMetricExporter);
  }
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
  return suppressed(new OTLPMetricExporter({ url }) as unknown as PushMetricExporter);
}

/**
 * The exporters' own HTTP requests must never be traced or tracked: every export runs with tracing
 * suppressed (the processors call export() from their own timers, without that context).
 */
function suppressed<T extends { export: (...a: any[]) => void }>(exporter: T): T {
  const orig = exporter.export.bind(exporter);
  exporter.export = ((...args: unknown[]) => context.with(suppressTracing(context.active()), () => orig(...args))) as T['export'];
  return exporter;
}
