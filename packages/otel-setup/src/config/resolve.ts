import { defaultConfig } from './defaults';
import { parseEnv } from './env';
import { redactionOptionsProblem } from '../redact';
import { profileLayer, selectProfile } from './profiles';
import type { ConfigLayer, OtelSetupConfig } from './types';
import type { WarnFn } from './warn';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, everything else (arrays included) replaces. */
export function mergeLayers<T>(base: T, ...layers: Array<ConfigLayer | undefined>): T {
  const out = structuredClone(base) as Record<string, unknown>;
  for (const layer of layers) {
    if (!layer) continue;
    mergeInto(out, layer as Record<string, unknown>);
  }
  return out as T;
}

function mergeInto(target: Record<string, unknown>, src: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(src)) {
    if (v === undefined) continue;
    if (isPlainObject(v) && isPlainObject(target[k])) mergeInto(target[k] as Record<string, unknown>, v);
    else target[k] = isPlainObject(v) || Array.isArray(v) ? structuredClone(v) : v;
  }
}

export interface ResolveInput {
  env: NodeJS.ProcessEnv;
  warn: WarnFn;
  /** The config file layer (already loaded and validated). */
  file?: ConfigLayer;
  /** Programmatic options to start(): between the file and the environment. */
  options?: ConfigLayer;
  /** Fallback service name when neither env nor options give one. */
  detectedServiceName?: string;
  detectedServiceVersion?: string;
}

function merge(input: ResolveInput): { cfg: OtelSetupConfig; envLayer: ConfigLayer; exportAsked: Record<'logs' | 'traces' | 'metrics', boolean> } {
  const { env, warn } = input;
  const { layer: envLayer, exportAsked } = parseEnv(env, warn);
  const profile = selectProfile(env, warn);
  const base = defaultConfig();
  if (input.detectedServiceName) base.serviceName = input.detectedServiceName;
  if (input.detectedServiceVersion) base.serviceVersion = input.detectedServiceVersion;
  const cfg = mergeLayers<OtelSetupConfig>(base, profileLayer(profile, env), input.file, input.options, envLayer);
  cfg.profile = profile;
  return { cfg, envLayer, exportAsked };
}

/**
 * What the components would refuse in a merged configuration (constraints that span several
 * settings, possibly from different layers): the LoadMonitor needs warnThreshold < errorThreshold,
 * the processors maxExportBatchSize <= maxQueueSize.
 */
export function configProblems(cfg: Readonly<OtelSetupConfig>): string[] {
  const out: string[] = [];
  const a = cfg.adaptive;
  if (!(a.warnThreshold < a.errorThreshold)) {
    out.push(`adaptive.warnThreshold (${a.warnThreshold}) must be below adaptive.errorThreshold (${a.errorThreshold})`);
  }
  for (const s of ['logs', 'spans'] as const) {
    const b = cfg.batching[s];
    if (b.maxExportBatchSize > b.maxQueueSize) {
      out.push(`batching.${s}.maxExportBatchSize (${b.maxExportBatchSize}) must not exceed batching.${s}.maxQueueSize (${b.maxQueueSize})`);
    }
  }
  return out;
}

/**
 * For the config file watcher: the problem the file layer would bring into the merged configuration
 * (one not already there without it), or undefined.
 */
export function fileLayerProblem(input: ResolveInput, file: ConfigLayer): string | undefined {
  const quiet = { ...input, warn: () => undefined };
  const before = new Set(configProblems(merge({ ...quiet, file: undefined }).cfg));
  return configProblems(merge({ ...quiet, file }).cfg).find((p) => !before.has(p));
}

/**
 * Precedence, lowest to highest: built-in defaults < NODE_ENV profile < config file < start() options < env.
 * The result is frozen and usable by the components: a combination they would refuse is repaired
 * with a warning.
 */
export function resolveConfig(input: ResolveInput): Readonly<OtelSetupConfig> {
  const { warn } = input;
  const { cfg, envLayer, exportAsked } = merge(input);
  // test profile: nothing exported unless asked
  if (cfg.profile === 'test') {
    for (const s of ['logs', 'traces', 'metrics'] as const) {
      if (exportAsked[s]) cfg.export[s] = envLayer.export?.[s] ?? true;
    }
  }
  for (const s of ['logs', 'spans'] as const) {
    const b = cfg.batching[s];
    if (b.maxExportBatchSize > b.maxQueueSize) {
      warn(
        `${s === 'logs' ? 'OTEL_BLRP' : 'OTEL_BSP'}_MAX_EXPORT_BATCH_SIZE (${b.maxExportBatchSize}) exceeds the queue size (${b.maxQueueSize}); using ${b.maxQueueSize}`,
      );
      b.maxExportBatchSize = b.maxQueueSize;
    }
  }
  if (!(cfg.adaptive.warnThreshold < cfg.adaptive.errorThreshold)) {
    const d = defaultConfig().adaptive;
    warn(
      `adaptive.warnThreshold (${cfg.adaptive.warnThreshold}) must be below adaptive.errorThreshold (${cfg.adaptive.errorThreshold}); using the defaults ${d.warnThreshold} and ${d.errorThreshold}`,
    );
    cfg.adaptive.warnThreshold = d.warnThreshold;
    cfg.adaptive.errorThreshold = d.errorThreshold;
  }
  const redactionProblem = redactionOptionsProblem(cfg.redaction);
  if (redactionProblem) {
    warn(`${redactionProblem}; using the built-in redaction only`);
    cfg.redaction = defaultConfig().redaction;
  }
  return deepFreeze(cfg);
}

/** The settings the running pipeline can change (Telemetry.reconfigure); every other one needs a restart. */
export const RUNTIME_SETTINGS: readonly string[] = [
  'level',
  'adaptive.warnThreshold',
  'adaptive.errorThreshold',
  'sampling.ratio',
  'batching.logs',
  'batching.spans',
  'requestTracking.maxActive',
  'requestTracking.ttlMs',
  'requestTracking.sweepIntervalMs',
  'redaction',
];

function isRuntime(path: string): boolean {
  return RUNTIME_SETTINGS.some((p) => path === p || path.startsWith(p + '.'));
}

/**
 * Splits a new configuration against the running one: `config` has the new values of the settings
 * that can change at run time and the running values of all others; `restart` names the settings
 * that changed but need a restart.
 */
export function splitRestartOnly(
  running: Readonly<OtelSetupConfig>,
  next: Readonly<OtelSetupConfig>,
): { config: OtelSetupConfig; restart: string[] } {
  const restart: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): unknown => {
    if (isRuntime(path)) return structuredClone(b);
    if (isPlainObject(a) && isPlainObject(b)) {
      const out: Record<string, unknown> = {};
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) out[k] = walk(a[k], b[k], path ? `${path}.${k}` : k);
      return out;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) restart.push(path);
    return structuredClone(a);
  };
  const config = walk(running, next, '') as OtelSetupConfig;
  return { config, restart };
}

export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
