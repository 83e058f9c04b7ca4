import * as http from 'node:http';
import * as https from 'node:https';
import { gzip } from 'node:zlib';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { EncodedBatchExporter } from './encoded-exporter';
import type { EncodedBatch } from './record-store';
import { InvalidOptionError, MAX_TIMER_MILLIS } from './options';
import { detachedAgentFactory } from './detached-agent';
import { otlpJson } from './otlp-json';

export type OtlpSignal = 'logs' | 'traces';

/**
 * What an export answers, beyond the SDK's ExportResult: when the receiver asked to wait
 * (Retry-After on 429 or 503), and whether sending the same request again can succeed.
 */
export interface ExportOutcome extends ExportResult {
  /** The receiver's Retry-After, in ms from now (429 and 503 only). */
  retryAfterMillis?: number;
  /** false when the receiver refused the request for good (a 4xx other than 408 and 429). */
  retryable?: boolean;
  /** The status of the receiver's whole answer, when a failure had one (then nothing was delivered). */
  httpStatus?: number;
}

/** Longest Retry-After honoured: a larger one is cut to this (a typo must not stop exports for days). */
export const MAX_RETRY_AFTER_MILLIS = 5 * 60_000;

/**
 * A Retry-After value (delay-seconds or an HTTP date) in ms from `now`, capped at
 * MAX_RETRY_AFTER_MILLIS; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  let ms: number;
  if (/^\d+$/.test(raw)) ms = Number(raw) * 1000;
  else {
    const at = Date.parse(raw);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return ms < 0 ? 0 : ms > MAX_RETRY_AFTER_MILLIS ? MAX_RETRY_AFTER_MILLIS : ms;
}
export type OtlpHttpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpHttpExporterOptions {
  /**
   * Full URL of the endpoint. Default: OTEL_EXPORTER_OTLP_{LOGS,TRACES}_ENDPOINT as it is,
   * else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/{logs,traces}, else http://localhost:4318/v1/{logs,traces}.
   */
  url?: string;
  /** Added to every request. Default: OTEL_EXPORTER_OTLP_HEADERS, then the signal's (k=v,k2=v2, values URL-encoded). */
  headers?: Record<string, string>;
  /** A request not answered by then fails. Default 10,000 ms. Env: OTEL_EXPORTER_OTLP{,_SIGNAL}_TIMEOUT. */
  timeoutMillis?: number;
  /** gzip compresses in libuv's thread pool, off the event loop. Default none. Env: OTEL_EXPORTER_OTLP{,_SIGNAL}_COMPRESSION. */
  compression?: 'gzip' | 'none';
  /** Default http/protobuf. http/json transcodes each batch's bytes to OTLP/JSON (slower). Env: OTEL_EXPORTER_OTLP{,_SIGNAL}_PROTOCOL. */
  protocol?: OtlpHttpProtocol;
  /** Where the variables are read from. Default process.env. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedOtlpHttpOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
  protocol: OtlpHttpProtocol;
}

export const OTLP_HTTP_DEFAULTS = Object.freeze({
  endpoint: 'http://localhost:4318',
  timeoutMillis: 10_000,
  compression: 'none' as const,
  protocol: 'http/protobuf' as const,
});

function pick(env: Record<string, string | undefined>, signal: OtlpSignal, suffix: string): string | undefined {
  const s = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${suffix}`]?.trim();
  if (s) return s;
  const g = env[`OTEL_EXPORTER_OTLP_${suffix}`]?.trim();
  return g || undefined;
}

/** A standard variable's unusable value: reported once per resolve, the default used (as the specification asks). */
function badVariable(variable: string, raw: string, expected: string, fallback: unknown): void {
  diag.warn(`${variable} must be ${expected}, got ${JSON.stringify(raw)}; using ${JSON.stringify(fallback)}`);
}

function parseHeaders(raw: string | undefined, variable: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    let key: string;
    let value: string;
    try {
      if (eq <= 0) throw new Error('no key');
      key = decodeURIComponent(part.slice(0, eq).trim());
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      diag.warn(`${variable}: expected key=value, got ${JSON.stringify(part.trim())}; that header is left out`);
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** Options resolved: explicit, else the standard variables, else the defaults. Throws InvalidOptionError naming what is wrong. */
export function resolveOtlpHttpOptions(signal: OtlpSignal, options: OtlpHttpExporterOptions = {}): ResolvedOtlpHttpOptions {
  const env = options.env ?? process.env;
  const S = signal.toUpperCase();
  let url = options.url;
  if (!url) {
    const own = env[`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`]?.trim();
    const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
    url = own || `${(base || OTLP_HTTP_DEFAULTS.endpoint).replace(/\/+$/, '')}/v1/${signal}`;
  }
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new InvalidOptionError(`OTLP ${signal} endpoint must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  const headers = options.headers ?? {
    ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS'),
    ...parseHeaders(env[`OTEL_EXPORTER_OTLP_${S}_HEADERS`], `OTEL_EXPORTER_OTLP_${S}_HEADERS`),
  };
  // An explicit option that is wrong throws (a programming error); a variable that is wrong is
  // reported and its default used, as the specification asks of the environment.
  let timeoutMillis = options.timeoutMillis;
  if (timeoutMillis === undefined) {
    const raw = pick(env, signal, 'TIMEOUT');
    timeoutMillis = raw === undefined ? OTLP_HTTP_DEFAULTS.timeoutMillis : Number(raw);
    if (raw !== undefined && !(Number.isFinite(timeoutMillis) && timeoutMillis > 0 && timeoutMillis <= MAX_TIMER_MILLIS)) {
      badVariable(`OTEL_EXPORTER_OTLP_[${S}_]TIMEOUT`, raw, 'a positive number of ms', OTLP_HTTP_DEFAULTS.timeoutMillis);
      timeoutMillis = OTLP_HTTP_DEFAULTS.timeoutMillis;
    }
  }
  if (!Number.isFinite(timeoutMillis) || timeoutMillis <= 0 || timeoutMillis > MAX_TIMER_MILLIS) {
    throw new InvalidOptionError(`OTLP ${signal} timeout must be a positive number of ms up to ${MAX_TIMER_MILLIS}, got ${timeoutMillis}`);
  }
  let compression = options.compression;
  if (compression === undefined) {
    const raw = pick(env, signal, 'COMPRESSION');
    compression = raw === undefined ? OTLP_HTTP_DEFAULTS.compression : (raw.toLowerCase() as 'gzip' | 'none');
    if (raw !== undefined && compression !== 'gzip' && compression !== 'none') {
      badVariable(`OTEL_EXPORTER_OTLP_[${S}_]COMPRESSION`, raw, 'gzip or none', OTLP_HTTP_DEFAULTS.compression);
      compression = OTLP_HTTP_DEFAULTS.compression;
    }
  }
  if (compression !== 'gzip' && compression !== 'none') throw new InvalidOptionError(`OTLP ${signal} compression must be gzip or none, got ${JSON.stringify(compression)}`);
  let protocol = options.protocol;
  if (protocol === undefined) {
    const raw = pick(env, signal, 'PROTOCOL');
    protocol = (raw ?? OTLP_HTTP_DEFAULTS.protocol) as OtlpHttpProtocol;
    if (raw !== undefined && protocol !== 'http/protobuf' && protocol !== 'http/json') {
      badVariable(`OTEL_EXPORTER_OTLP_[${S}_]PROTOCOL`, raw, 'http/protobuf or http/json (pass an SDK exporter for others)', OTLP_HTTP_DEFAULTS.protocol);
      protocol = OTLP_HTTP_DEFAULTS.protocol;
    }
  }
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new InvalidOptionError(`OTLP ${signal} protocol ${JSON.stringify(protocol)} is not supported here (http/protobuf or http/json); pass an SDK exporter for others`);
  }
  return { url, headers, timeoutMillis, compression, protocol };
}

/**
 * One attempt at sending a batch's bytes: transcoded to OTLP/JSON for http/json, gzipped when
 * asked (in the thread pool), POSTed on a keep-alive agent whose sockets are unref'd.
 */
class OtlpPoster {
  private readonly agent: http.Agent;
  /** Request options without headers, parsed once. */
  private readonly target: http.RequestOptions;
  private readonly request: typeof http.request;

  constructor(
    readonly signal: OtlpSignal,
    readonly options: Readonly<ResolvedOtlpHttpOptions>,
  ) {
    const u = new URL(options.url);
    const tls = u.protocol === 'https:';
    this.agent = detachedAgentFactory()(tls ? 'https:' : 'http:');
    this.request = tls ? https.request : http.request;
    this.target = {
      protocol: u.protocol,
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port || (tls ? 443 : 80),
      path: u.pathname + u.search,
      method: 'POST',
      agent: this.agent,
      auth: u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined,
    };
  }

  /** Calls back once, with an {@link ExportOutcome} (Retry-After, retryable) on failure. */
  send(bytes: Uint8Array, cb: (result: ExportOutcome) => void): void {
    const json = this.options.protocol === 'http/json';
    let body: Uint8Array;
    try {
      body = json ? Buffer.from(otlpJson(this.signal, bytes), 'utf8') : bytes;
    } catch (error) {
      cb({ code: ExportResultCode.FAILED, error: error as Error, retryable: false });
      return;
    }
    const contentType = json ? 'application/json' : 'application/x-protobuf';
    if (this.options.compression === 'gzip') {
      gzip(body, (err, zipped) => {
        if (err) cb({ code: ExportResultCode.FAILED, error: err });
        else this.post(zipped, contentType, true, cb);
      });
    } else this.post(body, contentType, false, cb);
  }

  /** Sends a protobuf request that is gzip-compressed already, with Content-Encoding: gzip (the exporter offers it for http/protobuf only). */
  sendGzipped(bytes: Uint8Array, cb: (result: ExportOutcome) => void): void {
    this.post(bytes, 'application/x-protobuf', true, cb);
  }

  private post(body: Uint8Array, contentType: string, gzipped: boolean, cb: (r: ExportOutcome) => void): void {
    let done = false;
    const finish = (r: ExportOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cb(r);
    };
    const headers: Record<string, string | number> = {
      ...this.options.headers,
      'content-type': contentType,
      'content-length': body.length,
    };
    if (gzipped) headers['content-encoding'] = 'gzip';
    const req = this.request({ ...this.target, headers }, (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', (error) => finish({ code: ExportResultCode.FAILED, error }));
      res.on('end', () => {
        if (status >= 200 && status < 300) finish({ code: ExportResultCode.SUCCESS });
        else {
          const r: ExportOutcome = { code: ExportResultCode.FAILED, error: new Error(`OTLP ${this.signal} export: HTTP ${status}`), httpStatus: status };
          if (status === 429 || status === 503) r.retryAfterMillis = parseRetryAfter(res.headers['retry-after']);
          if (status >= 400 && status < 500 && status !== 408 && status !== 429) r.retryable = false;
          finish(r);
        }
      });
      res.resume(); // the response body (an Export*ServiceResponse) is not needed
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`OTLP ${this.signal} export timed out after ${this.options.timeoutMillis} ms`));
    }, this.options.timeoutMillis);
    timer.unref();
    req.on('error', (error) => finish({ code: ExportResultCode.FAILED, error }));
    req.end(body);
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    this.agent.destroy();
  }
}

/**
 * Sends encoded batches to an OTLP/HTTP endpoint as they are: no records are built and
 * nothing is serialized on the way. gzip runs in the thread pool; sockets are unref'd,
 * so an export in flight never keeps the process alive. One attempt per call: the
 * processor retries (maxExportAttempts) and times out (exportTimeoutMillis).
 */
export class OtlpHttpExporter implements EncodedBatchExporter {
  readonly exportsEncodedBatches = true as const;
  readonly options: Readonly<ResolvedOtlpHttpOptions>;
  /**
   * Sends bytes gzip-compressed already (the spill's) as they are, whatever `compression` says:
   * OTLP receivers take gzip. http/protobuf only (undefined for http/json: the spill gunzips
   * such batches and export() transcodes them).
   */
  readonly exportGzipped: ((batch: EncodedBatch, resultCallback: (result: ExportOutcome) => void) => void) | undefined;
  private readonly poster: OtlpPoster;
  private closed = false;

  constructor(
    readonly signal: OtlpSignal,
    options: OtlpHttpExporterOptions = {},
  ) {
    this.options = Object.freeze(resolveOtlpHttpOptions(signal, options));
    this.poster = new OtlpPoster(signal, this.options);
    this.exportGzipped = this.options.protocol === 'http/protobuf' ? this.sendGzipped : undefined;
  }

  /** Calls back once, with an {@link ExportOutcome} (Retry-After, retryable) on failure. */
  export(batch: EncodedBatch, resultCallback: (result: ExportOutcome) => void): void {
    if (this.closed) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('OtlpHttpExporter is shut down') });
      return;
    }
    this.poster.send(batch.bytes, resultCallback);
  }

  private readonly sendGzipped = (batch: EncodedBatch, resultCallback: (result: ExportOutcome) => void): void => {
    if (this.closed) resultCallback({ code: ExportResultCode.FAILED, error: new Error('OtlpHttpExporter is shut down') });
    else this.poster.sendGzipped(batch.bytes, resultCallback);
  };

  async shutdown(): Promise<void> {
    this.closed = true;
    this.poster.close();
  }
}
