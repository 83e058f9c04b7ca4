import * as dc from 'node:diagnostics_channel';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Exception, Span, Tracer } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { BoundHistogram, LocalHistogram } from '@ccr/otel-processors';
import { normalizeMethod } from './http-server-span';

/**
 * Client spans for undici (and so `fetch`) requests, from undici's diagnostics channels, in place of
 * instrumentation-undici: the same span (SpanKind.CLIENT, named by the method, `HTTP` for another
 * one) with the stable HTTP semconv attributes (http.request.method, url.full, url.path, url.query,
 * url.scheme, server.address, server.port, user_agent.original, network.peer.address,
 * network.peer.port, network.protocol.version, http.response.status_code; error.type and status ERROR
 * from 400 on or on an error), the `traceparent` of the active context added to the request, and
 * http.client.request.duration (s). It costs less: no URL object and no header map per request, the
 * duration histogram's series bound once per attribute set (bench/gateway/run.mjs:
 * `ccr+OTEL_NODE_DISABLED_INSTRUMENTATIONS=undici` against the default, README *Performance*).
 * Requests to `ignoreHosts` (our own OTLP endpoints) and CONNECT requests get no span.
 */
export interface UndiciClientSpansOptions {
  tracer: Tracer;
  /** Where http.client.request.duration (s) is recorded. */
  duration?: LocalHistogram;
  /** host:port values whose requests get no span. */
  ignoreHosts?: string[];
}

interface ClientCall {
  span: Span;
  startedAt: number;
  method: string;
  host: string;
  port: number | undefined;
  scheme: string;
  status: number | undefined;
  protocol: string | undefined;
  errorType: string | undefined;
}

/** undici's Request as its channels publish it (v5 to v7). */
interface UndiciRequest {
  origin?: unknown;
  path?: unknown;
  method?: unknown;
  headers?: unknown;
  addHeader?: (name: string, value: string) => unknown;
}

export class UndiciClientSpans {
  private readonly calls = new WeakMap<object, ClientCall>();
  private readonly subs: Array<[string, (m: unknown) => void]> = [];
  private readonly tracer: Tracer;
  private readonly duration: LocalHistogram | undefined;
  private readonly ignoreHosts: Set<string>;
  /** The duration histogram's series by its attributes' values (a gateway calls few origins). */
  private readonly series = new Map<string, BoundHistogram>();
  /** origin → its scheme, host, port and host:port, parsed once (a gateway calls few origins). */
  private readonly origins = new Map<string, Origin>();

  constructor(opts: UndiciClientSpansOptions) {
    this.tracer = opts.tracer;
    this.duration = opts.duration;
    this.ignoreHosts = new Set(opts.ignoreHosts ?? []);
  }

  start(): void {
    if (this.subs.length) return;
    this.on('undici:request:create', (m) => this.onCreate((m as { request: UndiciRequest }).request));
    this.on('undici:client:sendHeaders', (m) => this.onSendHeaders(m as { request: object; socket?: { remoteAddress?: string; remotePort?: number; alpnProtocol?: unknown } }));
    this.on('undici:request:headers', (m) => this.onHeaders(m as { request: object; response: { statusCode: number } }));
    this.on('undici:request:trailers', (m) => this.onDone((m as { request: object }).request, undefined));
    this.on('undici:request:error', (m) => this.onDone((m as { request: object }).request, (m as { error: unknown }).error));
  }

  stop(): void {
    for (const [name, fn] of this.subs) dc.unsubscribe(name, fn);
    this.subs.length = 0;
  }

  private on(name: string, fn: (m: unknown) => void): void {
    const safe = (m: unknown) => {
      try {
        fn(m);
      } catch {
        /* telemetry never breaks the app */
      }
    };
    dc.subscribe(name, safe);
    this.subs.push([name, safe]);
  }

  private onCreate(request: UndiciRequest): void {
    const rawMethod = String(request.method ?? 'GET');
    if (rawMethod === 'CONNECT') return;
    const origin = this.originOf(String(request.origin ?? ''));
    if (origin === undefined || this.ignoreHosts.has(origin.hostPort)) return;
    const active = context.active();
    if (isTracingSuppressed(active)) return;
    const path = String(request.path ?? '/');
    const q = path.indexOf('?');
    const method = normalizeMethod(rawMethod);
    const attributes: Attributes = {
      'http.request.method': method,
      'http.request.method_original': rawMethod,
      'url.full': origin.origin + path,
      'url.path': q < 0 ? path : path.slice(0, q),
      'url.scheme': origin.scheme,
      'server.address': origin.host,
    };
    if (q >= 0) attributes['url.query'] = path.slice(q + 1);
    if (origin.port !== undefined) attributes['server.port'] = origin.port;
    const ua = userAgentOf(request.headers);
    if (ua !== undefined) attributes['user_agent.original'] = ua;
    const span = this.tracer.startSpan(method === '_OTHER' ? 'HTTP' : method, { kind: SpanKind.CLIENT, attributes }, active);
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(active, span), carrier);
    for (const k in carrier) addHeader(request, k, carrier[k]);
    this.calls.set(request, {
      span,
      startedAt: performance.now(),
      method,
      host: origin.host,
      port: origin.port,
      scheme: origin.scheme,
      status: undefined,
      protocol: undefined,
      errorType: undefined,
    });
  }

  private onSendHeaders({ request, socket }: { request: object; socket?: { remoteAddress?: string; remotePort?: number; alpnProtocol?: unknown } }): void {
    const call = this.calls.get(request);
    if (call === undefined || !socket) return;
    call.protocol = socket.alpnProtocol === 'h2' ? '2' : '1.1';
    const a: Attributes = { 'network.protocol.version': call.protocol };
    if (socket.remoteAddress) a['network.peer.address'] = socket.remoteAddress;
    if (socket.remotePort !== undefined) a['network.peer.port'] = socket.remotePort;
    call.span.setAttributes(a);
  }

  private onHeaders({ request, response }: { request: object; response: { statusCode: number } }): void {
    const call = this.calls.get(request);
    if (call === undefined) return;
    const status = response.statusCode;
    call.status = status;
    call.span.setAttribute('http.response.status_code', status);
    if (status >= 400) {
      call.errorType = String(status);
      call.span.setAttribute('error.type', call.errorType);
      call.span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }

  /** The answer's end (its trailers), or an error: an abort only ends the span, another error fails it. */
  private onDone(request: object, error: unknown): void {
    const call = this.calls.get(request);
    if (call === undefined) return;
    this.calls.delete(request);
    const span = call.span;
    if (error !== undefined && !isAbort(error)) {
      const e = error as { code?: unknown; name?: unknown; message?: unknown };
      call.errorType = String(e?.code || e?.name || 'Error');
      span.setAttribute('error.type', call.errorType);
      // an Error from another realm too (undici's own, under a test runner's context)
      if (typeof error === 'object' && error !== null) span.recordException(error as Exception);
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof e?.message === 'string' ? e.message : undefined });
    }
    span.end();
    this.recordDuration(call);
  }

  private recordDuration(call: ClientCall): void {
    const h = this.duration;
    if (!h) return;
    const key = `${call.method} ${call.scheme} ${call.host} ${call.port} ${call.status} ${call.protocol} ${call.errorType}`;
    let series = this.series.get(key);
    if (series === undefined) {
      const a: Attributes = { 'http.request.method': call.method, 'server.address': call.host, 'url.scheme': call.scheme };
      if (call.port !== undefined) a['server.port'] = call.port;
      if (call.status !== undefined) a['http.response.status_code'] = call.status;
      if (call.protocol !== undefined) a['network.protocol.version'] = call.protocol;
      if (call.errorType !== undefined) a['error.type'] = call.errorType;
      series = h.bind(a);
      if (this.series.size < 1000) this.series.set(key, series);
    }
    series.record((performance.now() - call.startedAt) / 1000);
  }

  private originOf(raw: string): Origin | undefined {
    let o = this.origins.get(raw);
    if (o === undefined) {
      o = parseOrigin(raw);
      if (o === undefined) return undefined;
      if (this.origins.size < 256) this.origins.set(raw, o);
    }
    return o;
  }
}

interface Origin {
  /** scheme://host[:port], without a trailing slash. */
  origin: string;
  scheme: string;
  host: string;
  port: number | undefined;
  /** host[:port] as written: what ignoreHosts lists. */
  hostPort: string;
}

function parseOrigin(raw: string): Origin | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.slice(0, -1);
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
  return { origin: `${url.protocol}//${url.host}`, scheme, host: url.hostname, port, hostPort: url.host };
}

/** The last user-agent value of undici's request headers ([name, value, …] since v6, a header block before). */
function userAgentOf(headers: unknown): string | undefined {
  let ua: string | undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const k = headers[i];
      if (typeof k === 'string' && k.length === 10 && k.toLowerCase() === 'user-agent') ua = String(headers[i + 1]);
    }
  } else if (typeof headers === 'string') {
    const m = /(?:^|\r\n)user-agent:[ \t]*([^\r\n]*)/gi;
    for (let r = m.exec(headers); r; r = m.exec(headers)) ua = r[1].trim();
  }
  return ua;
}

function addHeader(request: UndiciRequest, name: string, value: string): void {
  if (typeof request.addHeader === 'function') request.addHeader(name, value);
  else if (typeof request.headers === 'string') request.headers += `${name}: ${value}\r\n`;
  else if (Array.isArray(request.headers)) request.headers.push(name, value);
}

function isAbort(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown } | null;
  return e?.name === 'AbortError' || (typeof DOMException !== 'undefined' && error instanceof DOMException && error.code === DOMException.ABORT_ERR);
}
