import { context, diag, DiagConsoleLogger, DiagLogLevel, logs, metrics, propagation, trace } from '@opentelemetry/api';
import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, suppressTracing, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, ConsoleMetricExporter, InstrumentType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { ConsoleSpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { BatchingLogRecordProcessor, BatchingSpanProcessor, countRefusedEmits, detachedAgentFactory, ExportSpill, LevelController, LoadMonitor, LocalHistograms, OtlpHttpExporter, RequestTracker } from '@ccr/otel-processors';
import { deepFreeze, splitRestartOnly } from './config/resolve';
import type { BatchingConfig, OtelSetupConfig } from './config/types';
import { ConsoleEchoProcessor } from './console-echo';
import { enableInstrumentations, selectInstrumentations } from './instrumentations';
import { LeakWatch } from './leak-watch';
import { redactor } from './redact';
import { RedactingLogRecordProcessor, RedactingSpanProcessor } from './redacting-processors';
import { HttpRequestTracking } from './request-tracking';
import { SERVER_DURATION_BOUNDARIES } from './http-server-span';
import { GenAiMetrics } from './genai/metrics';
import { Pricing } from './genai/pricing';
import { buildResource } from './resource';
import { ReconfigurableSampler } from './sampler';
import { guardSpanMethods } from './span-guards';
import { StdoutCapture } from './stdout-capture';
import { withDeadline } from './shutdown';

/**
 * Wires the providers directly (lighter than sdk-node): one LoggerProvider with the
 * BatchingLogRecordProcessor (gated by a LevelController), one TracerProvider with the
 * BatchingSpanProcessor, one MeterProvider with a periodic OTLP reader, the LoadMonitor that sees
 * both queues and the RequestTracker, and the instrumentations.
 */
export class Telemetry {
  readonly level!: LevelController;
  readonly loggerProvider!: LoggerProvider;
  readonly tracerProvider!: TracerProvider;
  readonly meterProvider!: MeterProvider;
  readonly tracker!: RequestTracker;
  readonly logProcessor: BatchingLogRecordProcessor | undefined;
  readonly spanProcessor: BatchingSpanProcessor | undefined;
  readonly monitor: LoadMonitor | undefined;
  /** The durable spill both processors share (cfg.spill.dir), or undefined when off. */
  readonly spill: ExportSpill | undefined;
  readonly sampler!: ReconfigurableSampler;
  readonly requestTracking: HttpRequestTracking | undefined;
  readonly stdoutCapture: StdoutCapture | undefined;
  readonly leakWatch: LeakWatch | undefined;
  private instrumentations: Instrumentation[] = [];
  private contextManager!: AsyncLocalStorageContextManager;
  private shutdownPromise: Promise<void> | undefined;

  constructor(readonly config: Readonly<OtelSetupConfig>) {
    // everything registered globally or started is undone if a later step throws
    const undo: Array<() => void> = [];
    try {
      this.build(config, undo);
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          u();
        } catch {
          /* keep undoing */
        }
      }
      throw e;
    }
  }

  // the fields are assigned here, in one place (the constructor delegates so that it can undo)
  private build(cfg: Readonly<OtelSetupConfig>, undo: Array<() => void>): void {
    const self = this as Mutable<Telemetry>;
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
      undo.push(() => diag.disable());
    }
    this.contextManager = new AsyncLocalStorageContextManager();
    context.setGlobalContextManager(this.contextManager.enable());
    undo.push(() => context.disable());
    const propagator = buildPropagator(cfg.propagators);
    if (propagator) {
      propagation.setGlobalPropagator(propagator);
      undo.push(() => propagation.disable());
    }

    // one redactor for every path (records, spans, captured stdout, the resource)
    redactor.configure(cfg.redaction);
    undo.push(() => redactor.configure());
    const resource = buildResource(cfg);

    // metrics first: the processors and the tracker report into it
    const readers = [];
    const metricExporters: PushMetricExporter[] = [];
    if (cfg.export.metrics) metricExporters.push(metricExporter(cfg));
    if (cfg.consoleExport.metrics) metricExporters.push(new ConsoleMetricExporter());
    // the request path's histograms, aggregated by us (no attribute hashing per record): each reader collects them too
    const requestHistograms = new LocalHistograms({ name: '@ccr/otel-processors' });
    const genaiHistograms = new LocalHistograms({ name: '@ccr/otel-setup/genai' });
    const httpHistograms = new LocalHistograms({ name: '@ccr/otel-setup/http' });
    for (const exporter of metricExporters) {
      const temporality = exporter.selectAggregationTemporality?.(InstrumentType.HISTOGRAM) ?? AggregationTemporality.CUMULATIVE;
      readers.push(
        new PeriodicExportingMetricReader({
          exporter,
          metricProducers: [requestHistograms.producer(temporality), genaiHistograms.producer(temporality), httpHistograms.producer(temporality)],
          exportIntervalMillis: cfg.metricExportIntervalMillis,
          exportTimeoutMillis: Math.min(30000, cfg.metricExportIntervalMillis),
        }),
      );
    }
    self.meterProvider = new MeterProvider({ resource, readers });
    undo.push(() => void this.meterProvider.shutdown().catch(() => undefined));
    const meterProvider = this.meterProvider as unknown as ApiMeterProvider;
    metrics.setGlobalMeterProvider(meterProvider);
    undo.push(() => metrics.disable());

    if (cfg.spill.dir !== false && (cfg.export.logs || cfg.export.traces)) {
      const { dir, maxBytes, maxAgeMillis, flushIntervalMillis, segmentBytes } = cfg.spill;
      // one directory per service.name: a later process of the same service replays what this one left
      const spill = new ExportSpill({ dir, serviceName: cfg.serviceName, maxBytes, maxAgeMillis, flushIntervalMillis, segmentBytes });
      self.spill = spill;
      void spill.open(); // never rejects; appends are accepted once it returns
      undo.push(() => void spill.close());
    }

    self.level = new LevelController({ level: cfg.level });
    // secrets out first, then the queue
    const logProcessors: LogRecordProcessor[] = [new RedactingLogRecordProcessor()];
    if (cfg.export.logs) {
      self.logProcessor = new BatchingLogRecordProcessor({
        exporter: new OtlpHttpExporter('logs', { url: cfg.exporter.endpoints.logs, protocol: cfg.exporter.protocol }),
        level: this.level,
        meterProvider,
        spill: this.spill,
        ...batchingOptions(cfg.batching.logs),
      });
      logProcessors.push(this.logProcessor!);
    }
    if (cfg.consoleEcho) logProcessors.push(new ConsoleEchoProcessor(this.level));
    self.loggerProvider = new LoggerProvider({ resource, processors: logProcessors });
    // records the SDK refuses before any processor sees them still count, once, as below_level
    if (self.logProcessor) countRefusedEmits(self.loggerProvider, self.logProcessor);
    undo.push(() => void this.loggerProvider.shutdown().catch(() => undefined));
    logs.setGlobalLoggerProvider(this.loggerProvider);
    undo.push(() => logs.disable());

    self.sampler = new ReconfigurableSampler(cfg.sampling.sampler, cfg.sampling.ratio);
    const spanProcessors: SpanProcessor[] = [new RedactingSpanProcessor()];
    if (cfg.export.traces) {
      self.spanProcessor = new BatchingSpanProcessor({
        exporter: new OtlpHttpExporter('traces', { url: cfg.exporter.endpoints.traces, protocol: cfg.exporter.protocol }),
        meterProvider,
        spill: this.spill,
        ...batchingOptions(cfg.batching.spans),
      });
      spanProcessors.push(this.spanProcessor!);
    }
    if (cfg.consoleExport.traces) spanProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    self.tracerProvider = new TracerProvider({ resource, sampler: this.sampler, spanProcessors });
    undo.push(() => void this.tracerProvider.shutdown().catch(() => undefined));
    trace.setGlobalTracerProvider(this.tracerProvider);
    undo.push(() => trace.disable());
    // a span method given what it cannot read ignores the call (counted), never throws into the app
    undo.push(guardSpanMethods(() => this.spanProcessor?.countUnreadableCall()));

    const selfLogger = this.loggerProvider.getLogger('@ccr/otel-setup');
    let monitor: LoadMonitor | undefined;
    self.tracker = new RequestTracker({
      tracer: this.tracerProvider.getTracer('@ccr/otel-setup'),
      maxActive: cfg.requestTracking.maxActive,
      ttlMs: cfg.requestTracking.ttlMs,
      sweepIntervalMs: cfg.requestTracking.sweepIntervalMs,
      meterProvider,
      histograms: requestHistograms,
      load: () => monitor?.load ?? 0,
    });
    undo.push(() => this.tracker.shutdown());
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
      undo.push(() => monitor!.stop());
    }
    self.monitor = monitor;

    const names = selectInstrumentations(cfg);
    if (cfg.requestTracking.enabled) {
      const rt = new HttpRequestTracking({
        tracker: this.tracker,
        bodyPeekBytes: cfg.requestTracking.bodyPeekBytes,
        serverSpans: names.includes('http')
          ? {
              tracer: this.tracerProvider.getTracer('@ccr/otel-setup/http'),
              duration: httpHistograms.histogram('http.server.request.duration', {
                unit: 's',
                description: 'Duration of HTTP server requests.',
                boundaries: SERVER_DURATION_BOUNDARIES,
              }),
            }
          : undefined,
        ignoreHosts: Object.values(cfg.exporter.endpoints).map(hostOf),
        genai: {
          metrics: new GenAiMetrics(meterProvider, genaiHistograms, { maxModels: cfg.genai.maxModels }),
          pricing: Object.keys(cfg.genai.prices).length ? new Pricing(cfg.genai.prices) : undefined,
          captureBytes: cfg.genai.captureContent ? cfg.genai.captureContentMaxBytes : 0,
          // the one redaction module's text redactor: every secret shape, in URLs and in text
          redact: (text: string) => redactor.redactText(text),
        },
      });
      self.requestTracking = rt;
      rt.start();
      undo.push(() => rt.stop());
    }
    const rt = this.requestTracking;
    this.instrumentations = [];
    undo.push(() => {
      for (const i of this.instrumentations) i.disable();
    });
    this.instrumentations = enableInstrumentations(
      names,
      { tracerProvider: this.tracerProvider, meterProvider, loggerProvider: this.loggerProvider },
      // captured stdout already carries a bundled or plain pino's lines: the pino bridge would send them twice
      { ownServerSpans: rt !== undefined, pinoLogSending: !cfg.captureStdout },
    );

    if (cfg.captureStdout) {
      const cap = new StdoutCapture({ logger: this.loggerProvider.getLogger('stdout'), tee: cfg.captureStdoutTee });
      self.stdoutCapture = cap;
      cap.start();
      undo.push(() => cap.stop());
    }
    if (cfg.leakWatch.enabled) {
      const lw = new LeakWatch({ logger: selfLogger, meterProvider, ...cfg.leakWatch });
      self.leakWatch = lw;
      lw.start();
      undo.push(() => lw.stop());
    }
  }

  /**
   * Re-applies the settings that may change at run time (from the config file): level, adaptive
   * thresholds, sampling ratio, batch limits and request-tracking limits. Returns the configuration
   * now in force (running values for everything that could not be applied or needs a restart), what
   * could not be applied (with the reason) and which changed settings need a restart.
   */
  reconfigure(wanted: Readonly<OtelSetupConfig>): { config: Readonly<OtelSetupConfig>; ignored: string[]; restart: string[] } {
    const prev = this.config;
    const { config: next, restart } = splitRestartOnly(prev, wanted);
    const ignored: string[] = [];
    const attempt = (what: string, apply: () => void, keep: () => void) => {
      try {
        apply();
      } catch (err) {
        ignored.push(`${what} (${(err as Error).message})`);
        keep();
      }
    };
    attempt('level', () => this.level.setConfiguredLevel(next.level), () => (next.level = prev.level));
    attempt(
      'adaptive thresholds',
      () => this.monitor?.setThresholds({ warnThreshold: next.adaptive.warnThreshold, errorThreshold: next.adaptive.errorThreshold }),
      () => ((next.adaptive.warnThreshold = prev.adaptive.warnThreshold), (next.adaptive.errorThreshold = prev.adaptive.errorThreshold)),
    );
    attempt('redaction', () => redactor.configure(next.redaction), () => (next.redaction = structuredClone(prev.redaction)));
    attempt('sampling ratio', () => this.sampler.setRatio(next.sampling.ratio), () => (next.sampling.ratio = prev.sampling.ratio));
    attempt(
      'batching.logs',
      () => this.logProcessor?.setOptions(next.batching.logs),
      () => (next.batching.logs = { ...prev.batching.logs }),
    );
    attempt(
      'batching.spans',
      () => this.spanProcessor?.setOptions(next.batching.spans),
      () => (next.batching.spans = { ...prev.batching.spans }),
    );
    const { maxActive, ttlMs, sweepIntervalMs } = next.requestTracking;
    const pr = prev.requestTracking;
    attempt(
      'requestTracking limits',
      () =>
        this.tracker.setLimits({
          maxActive: maxActive !== pr.maxActive ? maxActive : undefined,
          ttlMs: ttlMs !== pr.ttlMs ? ttlMs : undefined,
          sweepIntervalMs: sweepIntervalMs !== pr.sweepIntervalMs ? sweepIntervalMs : undefined,
        }),
      () => ((next.requestTracking.maxActive = pr.maxActive), (next.requestTracking.ttlMs = pr.ttlMs), (next.requestTracking.sweepIntervalMs = pr.sweepIntervalMs)),
    );
    const config = deepFreeze(next);
    (this as Mutable<Telemetry>).config = config;
    return { config, ignored, restart };
  }

  forceFlush(): Promise<void> {
    return Promise.allSettled([
      this.tracerProvider.forceFlush(),
      this.loggerProvider.forceFlush(),
      this.meterProvider.forceFlush(),
    ]).then(() => undefined);
  }

  /**
   * For the end of the process (process 'exit', a re-raised signal): every record still queued,
   * waiting or in flight goes to the spill with synchronous writes. Nothing without a spill.
   */
  spillSync(): void {
    if (!this.spill) return;
    this.spanProcessor?.spillSync();
    this.logProcessor?.spillSync();
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
      // what could not be sent stays on disk for the next process of the service
      await this.spill?.close();
    })();
    this.shutdownPromise = withDeadline(all, timeoutMillis).then(() => {
      for (const i of this.instrumentations) i.disable();
    });
    return this.shutdownPromise;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Every batching value explicitly, and `env: {}`: the processors would otherwise read
 * OTEL_BLRP_* / OTEL_BSP_* / CCR_OTEL_MAX_QUEUE_BYTES themselves and throw on a bad value (already
 * parsed, with warnings, in config/env.ts).
 */
function batchingOptions(b: Readonly<BatchingConfig>) {
  return {
    env: {},
    // A collector restart takes seconds: 6 attempts, backoff 0.5 s x 2^n with full jitter (up to
    // ~15 s in all), when the spill is off. With the spill on, a failed batch goes to disk and is
    // replayed once the collector is back. Retry timers are unref'd and the exit paths have their
    // own deadlines, so a process that ends does not wait for them.
    maxExportAttempts: 6,
    maxQueueSize: b.maxQueueSize,
    maxQueueBytes: b.maxQueueBytes,
    maxExportBatchSize: b.maxExportBatchSize,
    scheduledDelayMillis: b.scheduledDelayMillis,
    exportTimeoutMillis: b.exportTimeoutMillis,
    maxValueBytes: b.maxValueBytes,
    attributeValueLengthLimit: b.attributeValueLengthLimit,
  };
}

/**
 * OTEL_PROPAGATORS as sdk-node builds it: one propagator alone, several in a CompositePropagator, none
 * (an empty list) → undefined, and the global propagator stays the API's no-op.
 */
export function buildPropagator(names: readonly string[]): TextMapPropagator | undefined {
  const list: TextMapPropagator[] = [];
  for (const n of names) {
    if (n === 'tracecontext') list.push(new W3CTraceContextPropagator());
    else if (n === 'baggage') list.push(new W3CBaggagePropagator());
    else if (n === 'b3' || n === 'b3multi') {
      const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3') as typeof import('@opentelemetry/propagator-b3');
      list.push(new B3Propagator(n === 'b3multi' ? { injectEncoding: B3InjectEncoding.MULTI_HEADER } : {}));
    }
  }
  if (list.length === 0) return undefined;
  return list.length === 1 ? list[0] : new CompositePropagator({ propagators: list });
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

function metricExporter(cfg: Readonly<OtelSetupConfig>): PushMetricExporter {
  const url = cfg.exporter.endpoints.metrics;
  if (cfg.exporter.protocol === 'http/json') {
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
    return suppressed(new OTLPMetricExporter(otlpOptions(url)) as unknown as PushMetricExporter);
  }
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
  return suppressed(new OTLPMetricExporter(otlpOptions(url)) as unknown as PushMetricExporter);
}

/**
 * Options for every OTLP exporter: sockets that never keep the process alive (@ccr/otel-processors' detached-agent.ts).
 * Timeout, headers and compression come from the standard OTEL_EXPORTER_OTLP_* variables, which the
 * exporters read themselves.
 */
function otlpOptions(url: string) {
  return { url, httpAgentOptions: detachedAgentFactory() };
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
