import type { Attributes } from '@opentelemetry/api';
import { trace, INVALID_SPAN_CONTEXT } from '@opentelemetry/api';
import type { RequestHandle } from '@ccr/otel-processors';
import type { ConfigFileWatcher } from './config/file';
import { sdkDisabled } from './config/env';
import { deepFreeze, fileLayerProblem, resolveConfig } from './config/resolve';
import type { ResolveInput } from './config/resolve';
import type { ConfigLayer, OtelSetupConfig } from './config/types';
import { stderrWarn } from './config/warn';
import type { WarnFn } from './config/warn';
import { createLogger } from './logger';
import type { Logger } from './logger';
import { findHostPackage, scriptName } from './resource';
import { ShutdownHooks } from './shutdown';
import type { Telemetry } from './sdk';

export type { Logger } from './logger';
export type { OtelSetupConfig, ConfigLayer, LevelName, ProfileName } from './config/types';
export type { RequestHandle } from '@ccr/otel-processors';

export interface StartOptions extends ConfigLayer {
  /** Environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where configuration warnings go (default: one line each on stderr). */
  warn?: WarnFn;
  /** Install SIGTERM/SIGINT/beforeExit hooks (default true). */
  installShutdownHooks?: boolean;
}

interface State {
  config: Readonly<OtelSetupConfig>;
  telemetry?: Telemetry;
  watcher?: ConfigFileWatcher;
  hooks?: ShutdownHooks;
}

let state: State | undefined;

/**
 * Starts telemetry once per process (later calls return the running configuration). With
 * OTEL_SDK_DISABLED=true nothing is loaded beyond the configuration.
 */
export function start(options: StartOptions = {}): Readonly<OtelSetupConfig> {
  if (state) return state.config;
  const { env = process.env, warn = stderrWarn, installShutdownHooks = true, ...layer } = options;
  let config: Readonly<OtelSetupConfig> | undefined;
  let watcher: ConfigFileWatcher | undefined;
  try {
    if (sdkDisabled(env)) {
      state = { config: resolveConfig({ env, warn, options: layer }) };
      return state.config;
    }
    const host = findHostPackage();
    const input: ResolveInput = { env, warn, options: layer, detectedServiceName: host.name ?? scriptName(), detectedServiceVersion: host.version };
    const file = env.CCR_OTEL_CONFIG?.trim();
    if (file) {
      // the watcher loads only when there is a file to watch
      const { ConfigFileWatcher } = require('./config/file') as typeof import('./config/file');
      watcher = new ConfigFileWatcher({
        file,
        warn,
        check: (fileLayer) => fileLayerProblem(input, fileLayer),
        onChange: (fileLayer) => {
          const s = state;
          if (!s?.telemetry) return;
          const r = s.telemetry.reconfigure(resolveConfig({ ...input, file: fileLayer }));
          s.config = r.config;
          if (r.ignored.length) warn(`config file ${file}: could not apply ${r.ignored.join(', ')}; the running values stay`);
          if (r.restart.length) warn(`config file ${file}: ${r.restart.join(', ')} changed; this needs a restart, the running values stay`);
        },
      });
      watcher.load();
    }
    config = resolveConfig({ ...input, file: watcher?.layer });
    if (config.disabled) {
      state = { config };
      return config;
    }
    // the SDK is loaded only now: a disabled process pays for the require of this file only
    const { Telemetry } = require('./sdk') as typeof import('./sdk');
    const telemetry = new Telemetry(config);
    state = { config, telemetry, watcher };
    watcher?.start();
    if (installShutdownHooks) {
      const waiting = (p: { stats(): { queued: number; inFlight: number } } | undefined) => (p ? p.stats().queued + p.stats().inFlight > 0 : false);
      state.hooks = new ShutdownHooks({
        flush: () => telemetry.forceFlush(),
        shutdown: () => telemetry.shutdown(),
        timeoutMillis: config.shutdown.timeoutMillis,
        exitFlushMillis: config.shutdown.exitFlushMillis,
        pending: () => waiting(telemetry.logProcessor) || waiting(telemetry.spanProcessor),
        spillSync: () => telemetry.spillSync(),
      });
      state.hooks.install();
    }
    return config;
  } catch (e) {
    watcher?.close();
    warn(`telemetry could not start: ${(e as Error)?.message ?? String(e)}; the application runs without it`);
    // what is in force: nothing
    state = { config: notRunning(config ?? resolveConfig({ env: {}, warn: () => undefined })) };
    return state.config;
  }
}

function notRunning(c: Readonly<OtelSetupConfig>): Readonly<OtelSetupConfig> {
  return deepFreeze({
    ...structuredClone(c),
    disabled: true,
    export: { logs: false, traces: false, metrics: false },
    consoleEcho: false,
    captureStdout: false,
    adaptive: { ...c.adaptive, enabled: false },
    requestTracking: { ...c.requestTracking, enabled: false },
    leakWatch: { ...c.leakWatch, enabled: false },
  });
}

/**
 * What `-r @ccr/otel-setup` and `--import @ccr/otel-setup/register` run: start() from the environment,
 * never a throw. Not in worker threads: NODE_OPTIONS and -r reach them too, and each would build a
 * second SDK with its own service.instance.id; telemetry belongs to the process's main thread (a
 * worker that wants its own calls start() itself).
 */
export function startFromPreload(): void {
  try {
    if (!require('node:worker_threads').isMainThread) return;
    start();
    // the application has not started yet: the start-up's garbage goes now, not under its load
    if (state?.telemetry) (require('./startup-memory') as typeof import('./startup-memory')).releaseStartupMemory();
  } catch {
    /* start() reports its own problems; the host application must run regardless */
  }
}

/** Flushes and shuts everything down (bounded by shutdown.timeoutMillis). Safe to call twice. */
export async function shutdown(): Promise<void> {
  const s = state;
  if (!s?.telemetry) return;
  s.watcher?.close();
  s.hooks?.uninstall();
  // The exporters' sockets and timers are unref'd: without this the loop of an app that has nothing
  // else to do empties mid-shutdown and the process ends before the caller's await resumes.
  const hold = setTimeout(() => undefined, s.config.shutdown.timeoutMillis + 1000);
  try {
    await s.telemetry.shutdown();
  } finally {
    clearTimeout(hold);
  }
}

/** Flushes what is buffered without shutting down. */
export async function forceFlush(): Promise<void> {
  await state?.telemetry?.forceFlush();
}

/** A logger over the OpenTelemetry logs API: trace/debug/info/warn/error/fatal(message, attributes?). */
export function getLogger(name: string, version?: string): Logger {
  return createLogger(name, version);
}

const NOOP_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const noopHandle = (id: string): RequestHandle => ({
  id,
  span: NOOP_SPAN,
  startPhase() {},
  endPhase() {},
  phaseDuration() {},
  setAttributes() {},
  complete() {},
  fail() {},
});

/** Tracks a request by id (the processors' RequestTracker); a no-op handle when telemetry is off. */
export function trackRequest(id: string, attributes?: Attributes): RequestHandle {
  const t = state?.telemetry;
  return t ? t.tracker.trackRequest(id, attributes) : noopHandle(id);
}

/** The effective configuration (what is in force), read-only; undefined before start(). */
export function getConfig(): Readonly<OtelSetupConfig> | undefined {
  return state?.config;
}

/** Counters of the processors and the tracker, for dashboards and the demo. */
export function stats(): Record<string, unknown> | undefined {
  const t = state?.telemetry;
  if (!t) return undefined;
  return {
    logs: t.logProcessor?.stats(),
    spans: t.spanProcessor?.stats(),
    requests: t.tracker.stats(),
    level: { configured: t.level.configuredLevel, floor: t.level.floor },
    load: t.monitor?.load,
  };
}

/** For tests: forget the running instance (after shutdown()). */
export function _resetForTests(): void {
  state = undefined;
}
