import { defaultConfig } from './defaults';
import { parseEnv } from './env';
import { profileLayer, profileName } from './profiles';
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

/**
 * Precedence, lowest to highest: built-in defaults < NODE_ENV profile < config file < start() options < env.
 * The result is frozen.
 */
export function resolveConfig(input: ResolveInput): Readonly<OtelSetupConfig> {
  const { env, warn } = input;
  const { layer: envLayer, exportAsked } = parseEnv(env, warn);
  const profile = profileName(env.CCR_OTEL_PROFILE ?? env.NODE_ENV);
  const base = defaultConfig();
  if (input.detectedServiceName) base.serviceName = input.detectedServiceName;
  if (input.detectedServiceVersion) base.serviceVersion = input.detectedServiceVersion;
  const cfg = mergeLayers<OtelSetupConfig>(base, profileLayer(profile), input.file, input.options, envLayer);
  cfg.profile = profile;
  // test profile: nothing exported unless asked
  if (profile === 'test') {
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
  if (cfg.adaptive.warnThreshold > cfg.adaptive.errorThreshold) {
    warn(`adaptive.warnThreshold exceeds adaptive.errorThreshold; using ${cfg.adaptive.errorThreshold} for both`);
    cfg.adaptive.warnThreshold = cfg.adaptive.errorThreshold;
  }
  return deepFreeze(cfg);
}

export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
