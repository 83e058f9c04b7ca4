import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientRequest } from 'node:http';
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { RequestHandle, RequestTracker } from '@ccr/otel-processors';

/**
 * Zero-code request tracking from node's diagnostics channels. Every incoming HTTP request becomes a
 * tracked request (on the instrumentation-http server span when there is one) with phases:
 *
 * | phase            | starts                                   | ends                                      |
 * |------------------|------------------------------------------|-------------------------------------------|
 * | `ingress`        | http.server.request.start                | request body fully read ('end')           |
 * | `upstream[.N]`   | undici:request:create / http.client.request.start | trailers / response end / error  |
 * | `upstream[.N].ttfb` | same                                  | upstream response headers                 |
 * | `response`       | first byte written back (write/end/flushHeaders) | http.server.response.finish        |
 *
 * and on completion: http.request.method, http.route, http.response.status_code,
 * server.address of the upstream(s), gen_ai.request.model and ccr.streaming when the JSON body says so.
 * Header values are never read except content-type and content-length; URLs are recorded without
 * their query string. `http.route` is the raw path (query removed) only as a fallback: node's http
 * knows no route templates, and a framework instrumentation (or instrumentation-http from RPC
 * metadata) that knows the template overwrites it on the span. `http.request.body.size` comes from
 * content-length, else from the bytes counted up to the body's end; it is left out when unknown.
 */
export interface RequestTrackingOptions {
  tracker: RequestTracker;
  /** Bytes of a JSON body peeked at for "model" / "stream"; 0 turns peeking off. Default 65536. */
  bodyPeekBytes?: number;
  /** true when instrumentation-http is on: the tracked request then rides on its server span. */
  serverSpans?: boolean;
  /** host:port of our own OTLP endpoints: outgoing requests there are never upstream phases. */
  ignoreHosts?: string[];
}

interface RequestState {
  handle: RequestHandle | undefined;
  id: string;
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  method: string;
  attrs: Attributes;
  upstreams: number;
  upstreamHosts: string[];
  ingressOpen: boolean;
  responseOpen: boolean;
  done: boolean;
  peek: Buffer[] | undefined;
  peeked: number;
  /** Body bytes seen in 'data' events, and whether 'end' came. */
  bodyBytes: number;
  bodyComplete: boolean;
  /** write/end/flushHeaders was called: the response phase has started. */
  wrote: boolean;
  traceId?: string;
  owner: HttpRequestTracking;
}

interface UpstreamState {
  state: RequestState;
  phase: string;
  /** `${phase}.ttfb`, built once. */
  ttfb: string;
}

let counter = 0;

/**
 * The tracked state, on the request and the response themselves: one property (same hidden class for
 * every request) instead of a WeakMap lookup or per-request wrapper closures.
 */
const kState = Symbol('ccr.requestTracking');
type Tracked = { [kState]?: RequestState };

/**
 * The request's 'data'/'end' and the response's first write are seen by hooks installed once on
 * IncomingMessage.prototype.emit and ServerResponse.prototype.{write,end,flushHeaders}: per request
 * this costs one property read, where wrapping each request's methods cost closures, and deleting the
 * wrappers afterwards turned the request and response objects into slow dictionary-mode objects.
 * Wrappers installed later (compression middleware and the like) call through to these.
 */
interface ProtoHook {
  proto: Record<string, unknown>;
  name: string;
  own: boolean;
  orig: unknown;
  hook: unknown;
}

function onResponseClose(this: ServerResponse): void {
  const st = (this as unknown as Tracked)[kState];
  if (st !== undefined && !st.done) st.owner.abort(st);
}

const MODEL_RE = /"model"\s*:\s*"([^"\\]{1,200})"/;
const STREAM_RE = /"stream"\s*:\s*(true|false)/;

export class HttpRequestTracking {
  private readonly store = new AsyncLocalStorage<RequestState>();
  private readonly bySpan = new WeakMap<object, RequestState>();
  private readonly byTrace = new Map<string, RequestState>();
  private readonly upstream = new WeakMap<object, UpstreamState>();
  private readonly subs: Array<[string, (m: unknown) => void]> = [];
  private readonly hooks: ProtoHook[] = [];
  /** Requests whose server span hook has not come yet, handled by one shared microtask. */
  private readonly pending: RequestState[] = [];
  private readonly drainPending = () => {
    const list = this.pending;
    for (let i = 0; i < list.length; i++) {
      try {
        this.handle(list[i]);
      } catch {
        /* telemetry never breaks the app */
      }
    }
    list.length = 0;
  };
  private readonly tracker: RequestTracker;
  private readonly peekBytes: number;
  private readonly serverSpans: boolean;
  private readonly ignoreHosts: Set<string>;

  constructor(opts: RequestTrackingOptions) {
    this.tracker = opts.tracker;
    this.peekBytes = opts.bodyPeekBytes ?? 65536;
    this.serverSpans = opts.serverSpans ?? false;
    this.ignoreHosts = new Set(opts.ignoreHosts ?? []);
  }

  start(): void {
    this.on('http.server.request.start', (m) => this.onServerStart(m as { request: IncomingMessage; response: ServerResponse }));
    this.on('http.server.response.finish', (m) => this.onServerFinish(m as { request: IncomingMessage; response: ServerResponse }));
    this.on('undici:request:create', (m) => this.onUndiciCreate(m as { request: UndiciRequest }));
    this.on('undici:request:headers', (m) => this.onUpstreamHeaders((m as { request: object }).request, (m as { response: { statusCode: number } }).response.statusCode));
    this.on('undici:request:trailers', (m) => this.onUpstreamDone((m as { request: object }).request, undefined));
    this.on('undici:request:error', (m) => this.onUpstreamDone((m as { request: object }).request, (m as { error: unknown }).error));
    this.on('http.client.request.start', (m) => this.onHttpClientStart(m as { request: ClientRequest }));
    this.on('http.client.response.finish', (m) =>
      this.onHttpClientResponse(m as { request: ClientRequest; response: IncomingMessage }),
    );
    this.on('http.client.request.error', (m) => this.onUpstreamDone((m as { request: object }).request, (m as { error: unknown }).error));
    this.installHooks();
  }

  stop(): void {
    for (const [name, fn] of this.subs) dc.unsubscribe(name, fn);
    this.subs.length = 0;
    // a hook that something else has wrapped since stays, as a pass-through (no new request gets a state)
    for (const h of this.hooks.splice(0)) {
      if (h.proto[h.name] !== h.hook) continue;
      if (h.own) h.proto[h.name] = h.orig;
      else delete h.proto[h.name];
    }
  }

  private installHooks(): void {
    const self = this;
    const hook = (proto: object, name: string, make: (orig: (...a: unknown[]) => unknown) => unknown) => {
      const p = proto as Record<string, unknown>;
      const orig = p[name] as (...a: unknown[]) => unknown;
      const h = make(orig);
      this.hooks.push({ proto: p, name, own: Object.prototype.hasOwnProperty.call(p, name), orig, hook: h });
      p[name] = h;
    };
    hook(IncomingMessage.prototype, 'emit', (orig) =>
      function (this: IncomingMessage, ev: string | symbol, chunk?: unknown) {
        const st = (this as unknown as Tracked)[kState];
        if (st !== undefined && !st.bodyComplete) {
          try {
            self.onRequestEvent(st, ev, chunk);
          } catch {
            /* telemetry never breaks the app */
          }
        }
        // eslint-disable-next-line prefer-rest-params
        return orig.apply(this, arguments as unknown as unknown[]);
      },
    );
    for (const name of ['write', 'end', 'flushHeaders']) {
      hook(ServerResponse.prototype, name, (orig) =>
        function (this: ServerResponse) {
          const st = (this as unknown as Tracked)[kState];
          if (st !== undefined && !st.wrote) self.firstByte(st);
          // eslint-disable-next-line prefer-rest-params
          return orig.apply(this, arguments as unknown as unknown[]);
        },
      );
    }
  }

  /** instrumentation-http's requestHook for a server request: track on its span. */
  onServerSpan(span: Span, req: unknown): void {
    const st = (req as Tracked)[kState];
    if (!st || st.handle) return;
    st.handle = this.tracker.trackRequest(st.id, st.attrs, { span });
    st.handle.startPhase('ingress');
    this.index(st);
  }

  /** Outgoing requests find their incoming one through the active span (or its trace). */
  private index(st: RequestState): void {
    const span = st.handle?.span;
    // a sampled-out request's span is indexed too (its phases still feed the duration metrics); the
    // shared no-op span of an untracked request is not
    if (!span || !isSpanContextValid(span.spanContext())) return;
    this.bySpan.set(span, st);
    st.traceId = span.spanContext().traceId;
    if (this.byTrace.size < 100000) this.byTrace.set(st.traceId, st);
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

  private handle(st: RequestState): RequestHandle {
    if (!st.handle) {
      const parent = propagation.extract(ROOT_CONTEXT, st.req.headers);
      st.handle = this.tracker.trackRequest(st.id, st.attrs, { parent });
      st.handle.startPhase('ingress');
      this.index(st);
    }
    return st.handle;
  }

  private onServerStart({ request: req, response: res }: { request: IncomingMessage; response: ServerResponse }): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const st: RequestState = {
      handle: undefined,
      id: `${process.pid}-${++counter}`,
      req,
      res,
      path,
      method,
      attrs: { 'http.request.method': method, 'http.route': path },
      upstreams: 0,
      upstreamHosts: [],
      ingressOpen: true,
      responseOpen: false,
      done: false,
      peek: undefined,
      peeked: 0,
      bodyBytes: 0,
      bodyComplete: false,
      wrote: false,
      owner: this,
    };
    (req as unknown as Tracked)[kState] = st;
    (res as unknown as Tracked)[kState] = st;
    // With server spans the request is found through the active span (its context reaches the
    // handler's async work): entering our own async store as well cost about 0.03 ms per request.
    if (!this.serverSpans) {
      this.store.enterWith(st);
      this.handle(st);
    }
    // the server span (if any) is created right after this, in the same tick; if no hook came, track on our own
    else if (this.pending.push(st) === 1) queueMicrotask(this.drainPending);

    const ct = req.headers['content-type'];
    if (this.peekBytes > 0 && method !== 'GET' && method !== 'HEAD' && typeof ct === 'string' && ct.includes('json')) st.peek = [];
    res.on('close', onResponseClose);
  }

  /** 'close' before the response finished: the client went away. */
  abort(st: RequestState): void {
    this.finish(st, false, { 'ccr.request.aborted': true });
  }

  /** The request's 'data' (body bytes, and the JSON peek) and 'end' (ingress done). */
  private onRequestEvent(st: RequestState, ev: string | symbol, chunk: unknown): void {
    if (ev === 'data') {
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : ((chunk as Uint8Array | undefined)?.byteLength ?? 0);
      st.bodyBytes += n;
      if (st.peek && st.peeked < this.peekBytes) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        st.peek.push(b);
        st.peeked += b.length;
      }
    } else if (ev === 'end') {
      st.bodyComplete = true;
      this.endIngress(st);
    }
  }

  private endIngress(st: RequestState): void {
    if (!st.ingressOpen) return;
    st.ingressOpen = false;
    const attrs: Attributes = {};
    if (st.peek && st.peek.length) {
      const text = Buffer.concat(st.peek).toString('utf8', 0, Math.min(st.peeked, this.peekBytes));
      const m = MODEL_RE.exec(text);
      if (m) attrs['gen_ai.request.model'] = m[1];
      const s = STREAM_RE.exec(text);
      if (s) attrs['ccr.streaming'] = s[1] === 'true';
      Object.assign(st.attrs, attrs);
      st.handle?.span.setAttributes(attrs);
    }
    st.peek = undefined;
    // the body size only when it is known: content-length, else every byte counted up to 'end'
    const cl = Number(st.req.headers['content-length']);
    const size = Number.isInteger(cl) && cl >= 0 ? cl : st.bodyComplete ? st.bodyBytes : undefined;
    this.handle(st).endPhase('ingress', size === undefined ? undefined : { 'http.request.body.size': size });
  }

  /** The first of write/end/flushHeaders: the first byte written back. */
  private firstByte(st: RequestState): void {
    st.wrote = true;
    try {
      const res = st.res;
      const h = this.handle(st);
      const ct = res.getHeader('content-type');
      if (typeof ct === 'string' && ct.includes('text/event-stream')) {
        st.attrs['ccr.streaming'] = true;
        h.span.setAttribute('ccr.streaming', true);
      }
      st.responseOpen = true;
      h.startPhase('response', { 'http.response.status_code': res.statusCode });
    } catch {
      /* never break the response */
    }
  }

  private onServerFinish({ request }: { request: IncomingMessage; response: ServerResponse }): void {
    const st = (request as unknown as Tracked)[kState];
    if (!st || st.done) return;
    this.finish(st, st.res.statusCode < 500, {});
  }

  private finish(st: RequestState, success: boolean, extra: Attributes): void {
    st.done = true;
    if (st.traceId && this.byTrace.get(st.traceId) === st) this.byTrace.delete(st.traceId);
    const h = this.handle(st);
    if (st.ingressOpen) this.endIngress(st);
    if (st.responseOpen) h.endPhase('response');
    const attrs = extra;
    attrs['http.response.status_code'] = st.res.statusCode;
    attrs['ccr.upstream.count'] = st.upstreams;
    if (st.upstreamHosts.length) attrs['ccr.upstream.hosts'] = st.upstreamHosts;
    h.complete(success, attrs);
  }

  // ---- outgoing (upstream) ----

  private current(): RequestState | undefined {
    const ctx = context.active();
    if (isTracingSuppressed(ctx)) return undefined;
    // the request whose async context this is first (without server spans); the active span next (the
    // server span); the trace id last (under an application's own child span; concurrent requests may
    // share an incoming trace id, so that one is only a fallback)
    let st = this.store.getStore();
    if (!st || st.done) {
      const span = trace.getSpan(ctx);
      if (span) st = this.bySpan.get(span) ?? this.byTrace.get(span.spanContext().traceId);
    }
    if (!st || st.done) return undefined;
    return st;
  }

  private beginUpstream(key: object, host: string, method: string, path: string): void {
    if (this.ignoreHosts.has(host)) return;
    const st = this.current();
    if (!st) return;
    st.upstreams++;
    if (!st.upstreamHosts.includes(host) && st.upstreamHosts.length < 8) st.upstreamHosts.push(host);
    const phase = st.upstreams === 1 ? 'upstream' : `upstream.${st.upstreams}`;
    const ttfb = st.upstreams === 1 ? 'upstream.ttfb' : `${phase}.ttfb`;
    this.upstream.set(key, { state: st, phase, ttfb });
    const h = this.handle(st);
    h.startPhase(phase, { 'server.address': host, 'http.request.method': method, 'url.path': path });
    h.startPhase(ttfb);
  }

  private onUndiciCreate({ request }: { request: UndiciRequest }): void {
    this.beginUpstream(request, hostOf(String(request.origin ?? '')), String(request.method ?? 'GET'), pathOf(String(request.path ?? '/')));
  }

  private onHttpClientStart({ request }: { request: ClientRequest }): void {
    this.beginUpstream(request, String(request.getHeader('host') ?? request.host ?? ''), request.method, pathOf(request.path ?? '/'));
  }

  private onUpstreamHeaders(key: object, status: number): void {
    const u = this.upstream.get(key);
    if (!u || u.state.done) return;
    this.handle(u.state).endPhase(u.ttfb, { 'http.response.status_code': status });
  }

  private onHttpClientResponse({ request, response }: { request: ClientRequest; response: IncomingMessage }): void {
    const u = this.upstream.get(request);
    if (!u) return;
    this.onUpstreamHeaders(request, response.statusCode ?? 0);
    response.once('end', () => this.onUpstreamDone(request, undefined));
    response.once('error', (e) => this.onUpstreamDone(request, e));
  }

  private onUpstreamDone(key: object, error: unknown): void {
    const u = this.upstream.get(key);
    if (!u) return;
    this.upstream.delete(key);
    if (u.state.done) return;
    const h = this.handle(u.state);
    if (error) {
      h.endPhase(u.ttfb);
      h.endPhase(u.phase, { 'error.type': (error as Error)?.name ?? 'Error' });
    } else h.endPhase(u.phase);
  }
}

/** host[:port] of an origin (scheme and userinfo cut off), without a regular expression. */
function hostOf(origin: string): string {
  let start = origin.indexOf('://');
  start = start < 0 ? 0 : start + 3;
  let end = origin.indexOf('/', start);
  if (end < 0) end = origin.length;
  const at = origin.lastIndexOf('@', end);
  return origin.slice(at >= start ? at + 1 : start, end);
}

/** A path without its query string. */
function pathOf(p: string): string {
  const q = p.indexOf('?');
  return q < 0 ? p : p.slice(0, q);
}

interface UndiciRequest {
  origin?: unknown;
  path?: unknown;
  method?: unknown;
}

