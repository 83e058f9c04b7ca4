import { KNOWN_INSTRUMENTATIONS } from './defaults';
import { defaultConfig } from './defaults';
import { LEVEL_NAMES } from './types';
import type { BatchingConfig, ConfigLayer, DiagLevelName, LevelName, OtlpProtocol, SamplerName } from './types';
import type { WarnFn } from './warn';
import { redactUrl } from '../redact';

/**
 * Parses the environment into a configuration layer (the highest one). Every bad value produces one
 * warning naming the variable and the default used instead; nothing here throws.
 */
export interface EnvParseResult {
  layer: ConfigLayer;
  /** true when the env explicitly asked for export (endpoint, OTEL_*_EXPORTER=otlp, CCR_OTEL_EXPORT=true) */
  exportAsked: { logs: boolean; traces: boolean; metrics: boolean };
}

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
const DIAG_LEVELS: readonly DiagLevelName[] = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'];

function str(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);
/** CCR_OTEL_SPILL_DIR values that turn the spill off (as the processors' resolveSpillOptions reads them). */
const SPILL_OFF = new Set(['off', 'false', 'none', '0']);

/**
 * OTEL_SDK_DISABLED as the OpenTelemetry SDK reads it: only `true` (any case, trimmed) disables. Any
 * other non-empty value keeps telemetry on, with a warning when it looks like a yes (1, yes, on).
 */
export function sdkDisabled(env: NodeJS.ProcessEnv, warn?: WarnFn): boolean {
  const v = env.OTEL_SDK_DISABLED?.trim().toLowerCase();
  if (!v) return false;
  if (v === 'true') return true;
  if (v !== 'false') warn?.(`OTEL_SDK_DISABLED=${JSON.stringify(env.OTEL_SDK_DISABLED)} is not true or false; telemetry stays on (only "true" disables it, as in the OpenTelemetry SDK)`);
  return false;
}

/** The propagators this package knows (OTEL_PROPAGATORS), as the SDK names them. */
export const KNOWN_PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi'] as const;
/** The resource detectors (OTEL_NODE_RESOURCE_DETECTORS), as sdk-node and auto-instrumentations-node name them. */
export const KNOWN_RESOURCE_DETECTORS = ['env', 'host', 'os', 'process', 'serviceinstance', 'container'] as const;

export class EnvReader {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly warn: WarnFn,
  ) {}

  string(name: string): string | undefined {
    return str(this.env, name);
  }

  bool(name: string, fallback: boolean | undefined): boolean | undefined {
    const v = str(this.env, name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if (TRUE_WORDS.has(l)) return true;
    if (FALSE_WORDS.has(l)) return false;
    this.warn(`${name}=${JSON.stringify(v)} is not a boolean (true/false); using the default ${String(fallback ?? 'unset')}`);
    return undefined;
  }

  /** Integer >= min; bad → warning + undefined (the lower layers' value stays). */
  int(name: string, fallback: number, min = 0): number | undefined {
    const v = str(this.env, name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      this.warn(`${name}=${JSON.stringify(v)} is not an integer >= ${min}; using the default ${fallback}`);
      return undefined;
    }
    return n;
  }

  ratio(name: string, fallback: number): number | undefined {
    const v = str(this.env, name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1) {
      this.warn(`${name}=${JSON.stringify(v)} is not a number in [0, 1]; using the default ${fallback}`);
      return undefined;
    }
    return n;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T, aliases: Record<string, T> = {}): T | undefined {
    const v = str(this.env, name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if ((allowed as readonly string[]).includes(l)) return l as T;
    if (l in aliases) return aliases[l];
    this.warn(`${name}=${JSON.stringify(v)} is not one of ${allowed.join(', ')}; using the default ${fallback}`);
    return undefined;
  }

  url(name: string, fallback: string): string | undefined {
    const v = str(this.env, name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return v;
    } catch {
      this.warn(`${name}=${JSON.stringify(redactUrl(v))} is not an http(s) URL; using the default ${fallback}`);
      return undefined;
    }
  }

  list(name: string): string[] | undefined {
    const v = str(this.env, name);
    if (v === undefined) return undefined;
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
}


function parseKeyValueList(
  name: string,
  raw: string,
  warn: WarnFn,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq).trim() : '';
    if (!key) {
      warn(`${name}: entry ${JSON.stringify(part.trim().slice(0, 40))} is not key=value; it is ignored (default: no such attribute)`);
      continue;
    }
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      /* keep raw */
    }
    out[key] = value;
  }
  return out;
}

/**
 * An OTEL_*_EXPORTER list: known names (otlp, console) deduplicated; `none` alone means no exporter;
 * `none` with others is ignored with a warning (sdk-node warns too); unknown names are warned about.
 */
function exporterList(name: string, raw: string[] | undefined, warn: WarnFn): string[] | undefined {
  if (!raw) return undefined;
  const names = [...new Set(raw.map((n) => n.toLowerCase()))];
  if (names.length === 1 && names[0] === 'none') return [];
  if (names.includes('none')) warn(`${name} lists "none" with other exporters; "none" is ignored`);
  const out = names.filter((n) => {
    if (n === 'none') return false;
    if (n === 'otlp' || n === 'console') return true;
    warn(`${name}: exporter ${JSON.stringify(n)} is not supported and is ignored (supported: otlp, console, none)`);
    return false;
  });
  return out;
}

function signalEndpoint(r: EnvReader, signal: 'LOGS' | 'TRACES' | 'METRICS', path: string, base: string | undefined): string | undefined {
  const specific = r.url(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`, base ? `${base.replace(/\/+$/, '')}${path}` : `http://localhost:4318${path}`);
  if (specific) return specific;
  if (base) return `${base.replace(/\/+$/, '')}${path}`;
  return undefined;
}

export function parseEnv(env: NodeJS.ProcessEnv, warn: WarnFn): EnvParseResult {
  const d = defaultConfig();
  const r = new EnvReader(env, warn);
  const layer: ConfigLayer = {};
  const exportAsked = { logs: false, traces: false, metrics: false };

  if (str(env, 'OTEL_SDK_DISABLED') !== undefined) layer.disabled = sdkDisabled(env, warn);

  // OTEL_PROPAGATORS: a list; "none" alone (or anywhere, as in sdk-node) sets no propagator
  const props = r.list('OTEL_PROPAGATORS');
  if (props) {
    const names = [...new Set(props.map((p) => p.toLowerCase()))];
    if (names.includes('none')) layer.propagators = [];
    else {
      layer.propagators = names.filter((n) => {
        if ((KNOWN_PROPAGATORS as readonly string[]).includes(n)) return true;
        warn(`OTEL_PROPAGATORS: propagator ${JSON.stringify(n)} is not available and is ignored (known: ${KNOWN_PROPAGATORS.join(', ')}, none)`);
        return false;
      });
    }
  }

  // OTEL_NODE_RESOURCE_DETECTORS: a list, "all" (the default) or "none"
  const dets = r.list('OTEL_NODE_RESOURCE_DETECTORS');
  if (dets) {
    const names = [...new Set(dets.map((d) => d.toLowerCase()))];
    if (names.includes('all')) layer.resourceDetectors = [...KNOWN_RESOURCE_DETECTORS];
    else if (names.includes('none')) layer.resourceDetectors = [];
    else {
      layer.resourceDetectors = names.filter((n) => {
        if ((KNOWN_RESOURCE_DETECTORS as readonly string[]).includes(n)) return true;
        warn(`OTEL_NODE_RESOURCE_DETECTORS: detector ${JSON.stringify(n)} is unknown and is ignored (known: ${KNOWN_RESOURCE_DETECTORS.join(', ')}, all, none)`);
        return false;
      });
    }
  }

  // resource
  const ra = r.string('OTEL_RESOURCE_ATTRIBUTES');
  if (ra) {
    const attrs = parseKeyValueList('OTEL_RESOURCE_ATTRIBUTES', ra, warn);
    if (attrs['service.name']) layer.serviceName = attrs['service.name'];
    if (attrs['service.version']) layer.serviceVersion = attrs['service.version'];
    layer.resourceAttributes = attrs;
  }
  const sn = r.string('OTEL_SERVICE_NAME');
  if (sn) layer.serviceName = sn;

  const level = r.oneOf<LevelName>('LOG_LEVEL', LEVEL_NAMES, 'info', { warning: 'warn', err: 'error', none: 'silent', off: 'silent' });
  if (level) layer.level = level;

  // exporters
  const protocol = r.oneOf<OtlpProtocol>('OTEL_EXPORTER_OTLP_PROTOCOL', ['http/protobuf', 'http/json'], d.exporter.protocol);
  const base = r.url('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://localhost:4318');
  const endpoints: Partial<Record<'logs' | 'traces' | 'metrics', string>> = {};
  const le = signalEndpoint(r, 'LOGS', '/v1/logs', base);
  const te = signalEndpoint(r, 'TRACES', '/v1/traces', base);
  const me = signalEndpoint(r, 'METRICS', '/v1/metrics', base);
  if (le) ((endpoints.logs = le), (exportAsked.logs = true));
  if (te) ((endpoints.traces = te), (exportAsked.traces = true));
  if (me) ((endpoints.metrics = me), (exportAsked.metrics = true));
  const headers = r.string('OTEL_EXPORTER_OTLP_HEADERS');
  const headerNames = headers ? Object.keys(parseKeyValueList('OTEL_EXPORTER_OTLP_HEADERS', headers, warn)) : undefined;
  if (protocol || Object.keys(endpoints).length || headerNames) {
    layer.exporter = {};
    if (protocol) layer.exporter.protocol = protocol;
    if (Object.keys(endpoints).length) layer.exporter.endpoints = endpoints;
    if (headerNames) layer.exporter.headerNames = headerNames;
  }

  const exp: { logs?: boolean; traces?: boolean; metrics?: boolean } = {};
  if (r.bool('CCR_OTEL_EXPORT', false) === true) {
    exp.logs = exp.traces = exp.metrics = true;
    exportAsked.logs = exportAsked.traces = exportAsked.metrics = true;
  }
  // OTEL_{LOGS,TRACES,METRICS}_EXPORTER: lists of otlp, console, none (as sdk-node reads them)
  const consoleExport: { traces?: boolean; metrics?: boolean } = {};
  for (const [sig, key] of [
    ['LOGS', 'logs'],
    ['TRACES', 'traces'],
    ['METRICS', 'metrics'],
  ] as const) {
    const name = `OTEL_${sig}_EXPORTER`;
    const list = exporterList(name, r.list(name), warn);
    if (!list) continue;
    const otlp = list.includes('otlp');
    const cons = list.includes('console');
    exp[key] = otlp;
    exportAsked[key] = otlp;
    // console adds to what the profile gives (the development echo stays unless CCR_OTEL_CONSOLE=false)
    if (cons && key === 'logs') layer.consoleEcho = true;
    else if (cons && key !== 'logs') consoleExport[key] = true;
  }
  if (Object.keys(consoleExport).length) layer.consoleExport = consoleExport;
  if (Object.keys(exp).length) layer.export = exp;

  const echo = r.bool('CCR_OTEL_CONSOLE', d.consoleEcho);
  if (echo !== undefined) layer.consoleEcho = echo;

  // sampling
  const sampler = r.oneOf<SamplerName>('OTEL_TRACES_SAMPLER', SAMPLERS, d.sampling.sampler);
  const ratio = r.ratio('OTEL_TRACES_SAMPLER_ARG', d.sampling.ratio);
  if (sampler || ratio !== undefined) {
    layer.sampling = {};
    if (sampler) layer.sampling.sampler = sampler;
    if (ratio !== undefined) layer.sampling.ratio = ratio;
  }

  // batching
  const generalValueLength = r.int('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', d.batching.logs.attributeValueLengthLimit, 1);
  const batch = (prefix: 'OTEL_BLRP' | 'OTEL_BSP', def: BatchingConfig) => {
    const b: Partial<BatchingConfig> = {};
    const q = r.int(`${prefix}_MAX_QUEUE_SIZE`, def.maxQueueSize, 1);
    const s = r.int(`${prefix}_MAX_EXPORT_BATCH_SIZE`, def.maxExportBatchSize, 1);
    const delay = r.int(`${prefix}_SCHEDULE_DELAY`, def.scheduledDelayMillis, 0);
    const to = r.int(`${prefix}_EXPORT_TIMEOUT`, def.exportTimeoutMillis, 1);
    if (q !== undefined) b.maxQueueSize = q;
    if (s !== undefined) b.maxExportBatchSize = s;
    if (delay !== undefined) b.scheduledDelayMillis = delay;
    if (to !== undefined) b.exportTimeoutMillis = to;
    // the signal's own limit first, then the general one (as sdk-node reads them)
    const own = prefix === 'OTEL_BLRP' ? 'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT' : 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT';
    const avl = r.int(own, def.attributeValueLengthLimit, 1) ?? generalValueLength;
    if (avl !== undefined) b.attributeValueLengthLimit = avl;
    return Object.keys(b).length ? b : undefined;
  };
  const bl = batch('OTEL_BLRP', d.batching.logs);
  const bs = batch('OTEL_BSP', d.batching.spans);
  // settings of both signals; the processors would read the queue bound from process.env themselves (and throw on a bad value): parsed here
  const both: Partial<BatchingConfig> = {};
  const qb = r.int('CCR_OTEL_MAX_QUEUE_BYTES', d.batching.logs.maxQueueBytes, 1024);
  if (qb !== undefined) both.maxQueueBytes = qb;
  const mvb = r.int('CCR_OTEL_MAX_VALUE_BYTES', d.batching.logs.maxValueBytes, 1);
  if (mvb !== undefined) both.maxValueBytes = mvb;
  const anyBoth = Object.keys(both).length > 0;
  if (bl || bs || anyBoth) {
    layer.batching = {};
    if (bl || anyBoth) layer.batching.logs = { ...bl, ...both };
    if (bs || anyBoth) layer.batching.spans = { ...bs, ...both };
  }

  const mi = r.int('OTEL_METRIC_EXPORT_INTERVAL', d.metricExportIntervalMillis, 1);
  if (mi !== undefined) layer.metricExportIntervalMillis = mi;

  const diagLevel = r.oneOf<DiagLevelName>('OTEL_LOG_LEVEL', DIAG_LEVELS, d.diagLevel, { warning: 'warn' });
  if (diagLevel) layer.diagLevel = diagLevel;

  // instrumentations
  const checkNames = (name: string, list: string[] | undefined) => {
    if (!list) return undefined;
    const known = KNOWN_INSTRUMENTATIONS as readonly string[];
    const out: string[] = [];
    for (const raw of list) {
      const n = raw.replace(/^@opentelemetry\/instrumentation-/, '');
      if (known.includes(n)) out.push(n);
      else warn(`${name}: unknown instrumentation ${JSON.stringify(raw)} is ignored (known: ${known.join(', ')})`);
    }
    return out;
  };
  const en = checkNames('OTEL_NODE_ENABLED_INSTRUMENTATIONS', r.list('OTEL_NODE_ENABLED_INSTRUMENTATIONS'));
  const dis = checkNames('OTEL_NODE_DISABLED_INSTRUMENTATIONS', r.list('OTEL_NODE_DISABLED_INSTRUMENTATIONS'));
  if (en || dis) {
    layer.instrumentations = {};
    if (en) layer.instrumentations.enabled = en;
    if (dis) layer.instrumentations.disabled = dis;
  }

  // ccr-otel specific
  const cfgFile = r.string('CCR_OTEL_CONFIG');
  if (cfgFile) layer.configFile = cfgFile;
  const cap = r.bool('CCR_OTEL_CAPTURE_STDOUT', d.captureStdout);
  if (cap !== undefined) layer.captureStdout = cap;
  const tee = r.bool('CCR_OTEL_CAPTURE_STDOUT_TEE', d.captureStdoutTee);
  if (tee !== undefined) layer.captureStdoutTee = tee;
  const content = r.bool('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', d.genai.captureContent);
  if (content !== undefined) layer.genai = { captureContent: content };
  const adaptive = r.bool('CCR_OTEL_ADAPTIVE', d.adaptive.enabled);
  if (adaptive !== undefined) layer.adaptive = { enabled: adaptive };
  const rt = r.bool('CCR_OTEL_REQUEST_TRACKING', d.requestTracking.enabled);
  const maxActive = r.int('CCR_OTEL_MAX_ACTIVE_REQUESTS', d.requestTracking.maxActive, 1);
  if (rt !== undefined || maxActive !== undefined) {
    layer.requestTracking = {};
    if (rt !== undefined) layer.requestTracking.enabled = rt;
    if (maxActive !== undefined) layer.requestTracking.maxActive = maxActive;
  }
  const lw = r.bool('CCR_OTEL_LEAK_WATCH', d.leakWatch.enabled);
  const lwi = r.int('CCR_OTEL_LEAK_WATCH_INTERVAL', d.leakWatch.intervalMillis, 1);
  if (lw !== undefined || lwi !== undefined) {
    layer.leakWatch = {};
    if (lw !== undefined) layer.leakWatch.enabled = lw;
    if (lwi !== undefined) layer.leakWatch.intervalMillis = lwi;
  }
  const st = r.int('CCR_OTEL_SHUTDOWN_TIMEOUT', d.shutdown.timeoutMillis, 0);
  const ef = r.int('CCR_OTEL_EXIT_FLUSH_TIMEOUT', d.shutdown.exitFlushMillis, 0);
  if (st !== undefined || ef !== undefined) {
    layer.shutdown = {};
    if (st !== undefined) layer.shutdown.timeoutMillis = st;
    if (ef !== undefined) layer.shutdown.exitFlushMillis = ef;
  }
  // the durable spill: a path turns it on there, off/false/none/0 turns it off
  const spillDir = r.string('CCR_OTEL_SPILL_DIR');
  const spillMax = r.int('CCR_OTEL_SPILL_MAX_BYTES', d.spill.maxBytes, 1024);
  if (spillDir !== undefined || spillMax !== undefined) {
    layer.spill = {};
    if (spillDir !== undefined) layer.spill.dir = SPILL_OFF.has(spillDir.toLowerCase()) ? false : spillDir;
    if (spillMax !== undefined) layer.spill.maxBytes = spillMax;
  }

  return { layer, exportAsked };
}
