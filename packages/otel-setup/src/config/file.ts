import * as fs from 'node:fs';
import { priceTableProblem } from '../genai/pricing';
import { LEVEL_NAMES } from './types';
import type { ConfigLayer } from './types';
import type { WarnFn } from './warn';
import { redactionOptionsProblem } from '../redact';

/**
 * The JSON config file (CCR_OTEL_CONFIG): parsed and validated apart from any behaviour. It holds the
 * settings that may change while the process runs. A file that does not parse or validate is reported
 * once (the same problem is not repeated) and the last good layer stays in force.
 *
 * Shape (every key optional):
 * { "level": "info", "adaptive": { "enabled", "warnThreshold", "errorThreshold", "hysteresis", "recoverySamples", "intervalMillis" },
 *   "batching": { "logs": {...}, "spans": {...} }, "requestTracking": { "enabled", "maxActive", "ttlMs", "sweepIntervalMs", "bodyPeekBytes" },
 *   "genai": { "captureContent", "captureContentMaxBytes", "maxModels", "prices": { "<provider>": { "<model>": { "input", "output", "cacheRead", "cacheCreation" } } } },
 *   "sampling": { "ratio": 0.5 }, "export": {...}, "consoleEcho", "captureStdout", "leakWatch": {...}, "shutdown": { "timeoutMillis" },
 *   "redaction": { "keys": ["ccrAdminPin"], "patterns": ["\\bmyco_[A-Za-z0-9]{24}"] },
 *   "spill": { "dir": "/var/cache/ccr-otel/spill" | false, "maxBytes", "maxAgeMillis", "flushIntervalMillis", "segmentBytes" } }
 */
type Check = (v: unknown) => string | undefined;

const isInt = (min: number): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min ? undefined : `must be an integer >= ${min}`;
const isRatio: Check = (v) => (typeof v === 'number' && v >= 0 && v <= 1 ? undefined : 'must be a number in [0, 1]');
/** The LoadMonitor's thresholds: (0, 1]. */
const isThreshold: Check = (v) => (typeof v === 'number' && v > 0 && v <= 1 ? undefined : 'must be a number in (0, 1]');
/** The LoadMonitor's hysteresis: [0, 1). */
const isHysteresis: Check = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? undefined : 'must be a number in [0, 1)');
const isStringList: Check = (v) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && x.trim() !== '') ? undefined : 'must be an array of non-empty strings';
const isBool: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const oneOf = (xs: readonly string[]): Check => (v) =>
  typeof v === 'string' && xs.includes(v) ? undefined : `must be one of ${xs.join(', ')}`;

// the same bounds as the processors (options.ts), the LoadMonitor and the RequestTracker
const batching = {
  maxQueueSize: isInt(1),
  maxQueueBytes: isInt(1024),
  maxExportBatchSize: isInt(1),
  scheduledDelayMillis: isInt(0),
  exportTimeoutMillis: isInt(1),
  maxValueBytes: isInt(1),
  attributeValueLengthLimit: isInt(1),
};
type Schema = { [k: string]: Check | Schema };
export const FILE_SCHEMA: Schema = {
  level: oneOf(LEVEL_NAMES),
  consoleEcho: isBool,
  captureStdout: isBool,
  export: { logs: isBool, traces: isBool, metrics: isBool },
  batching: { logs: batching, spans: batching },
  adaptive: {
    enabled: isBool,
    intervalMillis: isInt(1),
    warnThreshold: isThreshold,
    errorThreshold: isThreshold,
    hysteresis: isHysteresis,
    recoverySamples: isInt(1),
  },
  requestTracking: {
    enabled: isBool,
    maxActive: isInt(1),
    ttlMs: isInt(1),
    sweepIntervalMs: isInt(1),
    bodyPeekBytes: isInt(0),
  },
  genai: {
    captureContent: isBool,
    captureContentMaxBytes: isInt(1),
    maxModels: isInt(1),
    prices: priceTableProblem,
  },
  sampling: { ratio: isRatio },
  leakWatch: { enabled: isBool, intervalMillis: isInt(10), windowMillis: isInt(10), samples: isInt(1), growthThreshold: isRatio },
  shutdown: { timeoutMillis: isInt(0), exitFlushMillis: isInt(0) },
  redaction: { keys: isStringList, patterns: isStringList },
  // the same bounds as the spill's (spill-options.ts)
  spill: {
    dir: (v) => (v === false || (typeof v === 'string' && v.trim() !== '') ? undefined : 'must be a directory path or false'),
    maxBytes: isInt(1024),
    maxAgeMillis: isInt(1),
    flushIntervalMillis: (v) => isInt(1)(v) ?? ((v as number) > 2 ** 31 - 1 ? `must be <= ${2 ** 31 - 1}` : undefined),
    segmentBytes: (v) => isInt(1024)(v) ?? ((v as number) > 2 ** 32 ? `must be <= ${2 ** 32}` : undefined),
  },
};

/** Returns the first problem found, as "path: what is wrong", or undefined when the value is valid. */
export function validateLayer(value: unknown, schema: Schema = FILE_SCHEMA, path = ''): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `${path || '(top level)'}: must be a JSON object`;
  }
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    const s = schema[k];
    if (s === undefined) return `${p}: unknown setting (known: ${Object.keys(schema).join(', ')})`;
    if (typeof s === 'function') {
      const err = s(v);
      if (err) return `${p}: ${err}, got ${JSON.stringify(v)}`;
    } else {
      const err = validateLayer(v, s, p);
      if (err) return err;
    }
  }
  const red = (value as ConfigLayer).redaction;
  if (red !== undefined && path === '') {
    const err = redactionOptionsProblem(red);
    if (err) return err;
  }
  const a = (value as ConfigLayer).adaptive;
  if (a && a.warnThreshold !== undefined && a.errorThreshold !== undefined && a.warnThreshold >= a.errorThreshold) {
    return `${path ? path + '.' : ''}adaptive.warnThreshold: must be below adaptive.errorThreshold (${a.errorThreshold}), got ${a.warnThreshold}`;
  }
  for (const sig of ['logs', 'spans'] as const) {
    const b = (value as ConfigLayer).batching?.[sig];
    if (b && b.maxExportBatchSize !== undefined && b.maxQueueSize !== undefined && b.maxExportBatchSize > b.maxQueueSize) {
      return `${path ? path + '.' : ''}batching.${sig}.maxExportBatchSize: must not exceed batching.${sig}.maxQueueSize (${b.maxQueueSize}), got ${b.maxExportBatchSize}`;
    }
  }
  return undefined;
}

export type FileLoad = { ok: true; layer: ConfigLayer } | { ok: false; problem: string };

/** Checks a valid layer against the rest of the configuration (e.g. thresholds from other layers). */
export type LayerCheck = (layer: ConfigLayer) => string | undefined;

export function loadConfigFile(file: string, check?: LayerCheck): FileLoad {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, problem: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `not valid JSON: ${(e as Error).message}` };
  }
  const problem = validateLayer(parsed) ?? check?.(parsed as ConfigLayer);
  if (problem) return { ok: false, problem };
  return { ok: true, layer: parsed as ConfigLayer };
}

export interface ConfigFileWatcherOptions {
  file: string;
  /** Called with each new valid layer (not for the initial load). */
  onChange: (layer: ConfigLayer) => void;
  warn: WarnFn;
  /** Poll interval of the fallback fs.watchFile, default 1000 ms. */
  pollMillis?: number;
  /** Checks the layer in the context of the other layers (the merged configuration must be usable). */
  check?: LayerCheck;
}

/**
 * Loads a config file and watches it. fs.watch on the directory (editors replace files) plus a
 * fs.watchFile poll as a fallback; both unref'd so they never keep the process alive.
 */
export class ConfigFileWatcher {
  private last: ConfigLayer = {};
  private lastText: string | undefined;
  private lastProblem: string | undefined;
  private watcher: fs.FSWatcher | undefined;
  private polling = false;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly onPoll = () => this.schedule();

  constructor(private readonly opts: ConfigFileWatcherOptions) {}

  /** The last good layer ({} when the file never loaded). */
  get layer(): ConfigLayer {
    return this.last;
  }

  /** Initial load, synchronous. Returns the layer in force. */
  load(): ConfigLayer {
    this.reload(false);
    return this.last;
  }

  start(): void {
    const { file } = this.opts;
    const path = require('node:path') as typeof import('node:path');
    try {
      this.watcher = fs.watch(path.dirname(file), { persistent: false }, (_ev, name) => {
        if (!name || name.toString() === path.basename(file)) this.schedule();
      });
      this.watcher.on('error', () => undefined);
      this.watcher.unref?.();
    } catch {
      /* directory missing: the poll below still notices the file appearing */
    }
    fs.watchFile(file, { persistent: false, interval: this.opts.pollMillis ?? 1000 }, this.onPoll);
    this.polling = true;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(this.onDebounce, 50);
    this.debounce.unref();
  }

  /** Runs in a timer: a reload that fails (or an onChange that throws) is reported, never thrown into the host. */
  private readonly onDebounce = (): void => {
    this.debounce = undefined;
    try {
      this.reload(true);
    } catch (e) {
      try {
        this.opts.warn(`config file ${this.opts.file} could not be applied: ${(e as Error)?.message ?? String(e)}; the running values stay`);
      } catch {
        /* a warn function that throws must not reach the host either */
      }
    }
  };

  /** Re-reads the file; exposed for tests. */
  reload(notify: boolean): void {
    let text: string | undefined;
    try {
      text = fs.readFileSync(this.opts.file, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined && text === this.lastText) return;
    const r = loadConfigFile(this.opts.file, this.opts.check);
    if (!r.ok) {
      if (r.problem !== this.lastProblem) {
        this.lastProblem = r.problem;
        this.opts.warn(
          `config file ${this.opts.file} ${r.problem}; ${this.lastText === undefined ? 'using the built-in defaults, profile and environment' : 'keeping the last good configuration'}`,
        );
      }
      return;
    }
    this.lastText = text;
    this.lastProblem = undefined;
    this.last = r.layer;
    if (notify) this.opts.onChange(r.layer);
  }

  close(): void {
    this.closed = true;
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    if (this.polling) fs.unwatchFile(this.opts.file, this.onPoll);
  }
}
