import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { RequestHandle, RequestTracker } from '@ccr/otel-processors';
import { errorTypeOf, errorTypeOfStatus } from './genai/errors';
import { JsonWindow } from './genai/json-window';
import { apiFormatOf, splitModel } from './genai/providers';
import { requestFields } from './genai/request-fields';
import { GenAiCall, type ClientAsk, type GenAiOptions } from './genai/upstream-call';

/**
 * Zero-code request tracking from node's diagnostics channels. Every incoming HTTP request becomes a
 * tracked request (on the instrumentation-http server span when there is one) with phases:
 *
 * | phase            | starts                                   | ends                                      |
 * |------------------|------------------------------------------|-------------------------------------------|
 * | `ingress`        | http.server.request.start                | request body fully read ('end')           |
 * | `upstream[.N]`   | undici:request:create / http.client.request.start | trailers / response end / error  |
 * | `upstream[.N].ttfb` | same                                  | upstream response headers                 |
 * | `upstream[.N].first_token` | same                           | first output chunk of a streamed LLM answer |
 * | `upstream[.N].stream` | first output chunk                   | end of the streamed answer                |
 * | `response`       | first byte written back (write/end/flushHeaders) | http.server.response.finish        |
 *
 * and on completion: http.request.method, http.route, http.response.status_code,
 * server.address of the upstream(s), gen_ai.request.model and ccr.streaming when the JSON body says so.
 * An upstream call to an LLM API path (genai/providers.ts) is a GenAiCall: the GenAI attributes of
 * its request and answer land on the request's span and in the GenAI metrics (genai/upstream-call.ts).
 * Header values are never read except content-type, content-length, and of upstream answers
 * content-encoding and retry-after; URLs are recorded without their query string. `http.route` is the raw path (query removed) only as a fallback: node's http
 * knows no route templates, and a framework instrumentation (or instrumentation-http from RPC
 * metadata) that knows the template overwrites it on the span. `http.request.body.size` comes from
 * content-length, else from the bytes counted up to the body's end; it is left out when unknown.
 */
export interface RequestTrackingOptions {
  tracker: RequestTracker;
  /** Bytes at the start of a JSON body looked at for "model" (the last 1 KiB is looked at too, for "stream" and "max_tokens"); 0 turns peeking off. Default 4096. */
  bodyPeekBytes?: number;
  /** GenAI attributes, metrics, pricing and the opt-in capture of upstream LLM calls. */
  genai?: GenAiOptions;
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
  peek: JsonWindow | undefined;
  /** Body bytes seen in 'data' events, and whether 'end' came. */
  bodyBytes: number;
  bodyComplete: boolean;
  traceId?: string;
  /** What the client's body asked for (model split from CCR's `provider,model`). */
  client: ClientAsk;
  /** Upstream calls not ended yet. */
  open: Set<UpstreamState>;
  /** GenAI results still being read (a decompressor draining): completion waits for them, bounded. */
  pending: number;
  deferred: (() => void) | undefined;
  /** error.type of the last failed upstream call. */
  upstreamError: string | undefined;
}

interface UpstreamState {
  state: RequestState;
  phase: string;
  call: GenAiCall | undefined;
  status: number | undefined;
  retryAfter: string | undefined;
  ttfbOpen: boolean;
  streamOpen: boolean;
}

/** Longest wait of a request's completion for its GenAI results (decompression), ms. */
const PENDING_WAIT_MS = 1000;

let counter = 0;

export class HttpRequestTracking {
  private readonly store = new AsyncLocalStorage<RequestState>();
  private readonly byReq = new WeakMap<object, RequestState>();
  private readonly bySpan = new WeakMap<object, RequestState>();
  private readonly byTrace = new Map<string, RequestState>();
  private readonly upstream = new WeakMap<object, UpstreamState>();
  private readonly subs: Array<[string, (m: unknown) => void]> = [];
  private readonly tracker: RequestTracker;
  private readonly peekBytes: number;
  private readonly serverSpans: boolean;
  private readonly ignoreHosts: Set<string>;
  private readonly genai: GenAiOptions;

  constructor(opts: RequestTrackingOptions) {
    this.tracker = opts.tracker;
    this.genai = opts.genai ?? {};
    this.peekBytes = opts.bodyPeekBytes ?? 4096;
    this.serverSpans = opts.serverSpans ?? false;
    this.ignoreHosts = new Set(opts.ignoreHosts ?? []);
  }

  start(): void {
    this.on('http.server.request.start', (m) => this.onServerStart(m as { request: IncomingMessage; response: ServerResponse }));
    this.on('http.server.response.finish', (m) => this.onServerFinish(m as { request: IncomingMessage; response: ServerResponse }));
    this.on('undici:request:create', (m) => this.onUndiciCreate(m as { request: UndiciRequest }));
    this.on('undici:request:headers', (m) => this.onUndiciHeaders(m as { request: object; response: { statusCode: number; headers: unknown } }));
    this.on('undici:request:trailers', (m) => this.onUpstreamDone((m as { request: object }).request, undefined));
    this.on('undici:request:error', (m) => this.onUpstreamDone((m as { request: object }).request, (m as { error: unknown }).error));
    // created (Node >= 22.12) comes from the ClientRequest constructor, before any body write; start
    // (at socket assignment, after the first writes) only for a Node without it
    this.on('http.client.request.created', (m) => this.onHttpClientStart(m as { request: ClientRequest }));
    this.on('http.client.request.start', (m) => this.onHttpClientStart(m as { request: ClientRequest }));
    this.on('http.client.response.finish', (m) =>
      this.onHttpClientResponse(m as { request: ClientRequest; response: IncomingMessage }),
    );
    this.on('http.client.request.error', (m) => this.onUpstreamDone((m as { request: object }).request, (m as { error: unknown }).error));
  }

  stop(): void {
    for (const [name, fn] of this.subs) dc.unsubscribe(name, fn);
    this.subs.length = 0;
  }

  /** instrumentation-http's requestHook for a server request: track on its span. */
  onServerSpan(span: Span, req: unknown): void {
    const st = this.byReq.get(req as object);
    if (!st || st.handle) return;
    st.handle = this.tracker.trackRequest(st.id, st.attrs, { span });
    st.handle.startPhase('ingress');
    this.index(st);
  }

  /** Outgoing requests find their incoming one through the active span (or its trace). */
  private index(st: RequestState): void {
    const span = st.handle?.span;
    if (!span || !span.isRecording()) return;
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
      bodyBytes: 0,
      bodyComplete: false,
      client: {},
      open: new Set(),
      pending: 0,
      deferred: undefined,
      upstreamError: undefined,
    };
    this.byReq.set(req, st);
    this.store.enterWith(st);
    if (!this.serverSpans) this.handle(st);
    // the server span (if any) is created right after this, in the same tick; if no hook came, track on our own
    else queueMicrotask(() => this.handle(st));

    const ct = req.headers['content-type'];
    if (this.peekBytes > 0 && method !== 'GET' && method !== 'HEAD' && typeof ct === 'string' && ct.includes('json')) st.peek = new JsonWindow(this.peekBytes, 1024, false);
    this.wrapRequestEmit(st);
    this.wrapFirstByte(st);
    // the client went away before the answer was complete: a cancel (Esc in Claude Code), not an error
    res.once('close', () => {
      try {
        if (!st.done) this.finish(st, true, { 'ccr.request.cancelled': true }, true);
      } catch {
        /* never into the host */
      }
    });
  }

  /**
   * Watches the request's 'data' (body bytes, and the JSON peek) and 'end' (ingress done). Once 'end'
   * is seen the wrapper is removed only if req.emit is still ours (a later wrapper, e.g. a
   * middleware's, must not be cut out); otherwise it stays as a plain pass-through.
   */
  private wrapRequestEmit(st: RequestState): void {
    const req = st.req;
    const own = Object.prototype.hasOwnProperty.call(req, 'emit');
    const orig = req.emit;
    const self = this;
    let fired = false;
    // `arguments` passed on as is: no rest array and spread per emitted event
    const wrapper = function (this: IncomingMessage, ev: string | symbol, chunk?: unknown): boolean {
      if (!fired) {
        if (ev === 'data') {
          const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : ((chunk as Uint8Array | undefined)?.byteLength ?? 0);
          st.bodyBytes += n;
          if (st.peek) st.peek.write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
        } else if (ev === 'end') {
          fired = true;
          st.bodyComplete = true;
          if (req.emit === wrapper) {
            if (own) req.emit = orig;
            else delete (req as Partial<IncomingMessage>).emit;
          }
          self.endIngress(st);
        }
      }
      // eslint-disable-next-line prefer-rest-params
      return (orig as (...a: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
    } as typeof req.emit;
    req.emit = wrapper;
  }

  private endIngress(st: RequestState): void {
    if (!st.ingressOpen) return;
    st.ingressOpen = false;
    if (st.peek && st.peek.total > 0) {
      const attrs: Attributes = {};
      const f = requestFields(st.peek);
      if (f.model) {
        const { provider, model } = splitModel(f.model);
        f.model = model;
        attrs['gen_ai.request.model'] = model;
        if (provider) (st.client as ClientAsk).ccrProvider = provider;
      }
      if (f.stream !== undefined) attrs['ccr.streaming'] = f.stream;
      Object.assign(st.client, f);
      Object.assign(st.attrs, attrs);
      st.handle?.span.setAttributes(attrs);
    }
    st.peek = undefined;
    // the body size only when it is known: content-length, else every byte counted up to 'end'
    const cl = Number(st.req.headers['content-length']);
    const size = Number.isInteger(cl) && cl >= 0 ? cl : st.bodyComplete ? st.bodyBytes : undefined;
    this.handle(st).endPhase('ingress', size === undefined ? undefined : { 'http.request.body.size': size });
  }

  /**
   * The first of write/end/flushHeaders marks the first byte written back. After it, each wrapper is
   * removed only if the property still holds it (compression middleware and the like wrap these
   * later, as own properties, and must keep working); otherwise it stays as a pass-through.
   */
  private wrapFirstByte(st: RequestState): void {
    const res = st.res as unknown as Record<string, unknown> & { getHeader(n: string): unknown; statusCode: number };
    const names = ['write', 'end', 'flushHeaders'] as const;
    let fired = false;
    const wrappers: Array<[string, boolean, unknown, unknown]> = [];
    const firstByte = () => {
      fired = true;
      for (let i = 0; i < wrappers.length; i++) {
        const [n, own, fn, w] = wrappers[i];
        if (res[n] !== w) continue;
        if (own) res[n] = fn;
        else delete res[n];
      }
      try {
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
    };
    for (const n of names) {
      const own = Object.prototype.hasOwnProperty.call(res, n);
      const fn = res[n] as (...a: unknown[]) => unknown;
      const w = function (this: ServerResponse) {
        if (!fired) firstByte();
        // eslint-disable-next-line prefer-rest-params
        return fn.apply(this, arguments as unknown as unknown[]);
      };
      wrappers.push([n, own, fn, w]);
      res[n] = w;
    }
  }

  /**
   * A request succeeds when it answers below 400; a failed one carries error.type (its upstream's,
   * else its status). instrumentation-http overwrites error.type of a 5xx server span with the status
   * when it ends the span: the upstream's class stays in ccr.upstream.error.type.
   */
  private onServerFinish({ request }: { request: IncomingMessage; response: ServerResponse }): void {
    const st = this.byReq.get(request);
    if (!st || st.done) return;
    const status = st.res.statusCode;
    const failed = status >= 400;
    const attrs: Attributes = failed ? { 'error.type': st.upstreamError ?? String(status) } : {};
    if (st.upstreamError) attrs['ccr.upstream.error.type'] = st.upstreamError;
    this.finish(st, !failed, attrs, false);
  }

  private finish(st: RequestState, success: boolean, extra: Attributes, cancelled: boolean): void {
    st.done = true;
    if (st.traceId && this.byTrace.get(st.traceId) === st) this.byTrace.delete(st.traceId);
    const h = this.handle(st);
    if (st.ingressOpen) this.endIngress(st);
    if (st.responseOpen) {
      st.responseOpen = false;
      h.endPhase('response');
    }
    // upstream calls still open: the answer went out (or the client left) before they ended
    if (st.open.size) for (const u of [...st.open]) this.endUpstream(u, undefined, cancelled ? { 'ccr.request.cancelled': true } : { 'ccr.upstream.incomplete': true }, !cancelled);
    const complete = () => {
      st.deferred = undefined;
      const attrs: Attributes = {
        ...extra,
        'http.response.status_code': st.res.statusCode,
        'ccr.upstream.count': st.upstreams,
      };
      if (st.upstreamHosts.length) attrs['ccr.upstream.hosts'] = st.upstreamHosts;
      h.complete(success, attrs);
    };
    if (st.pending === 0) return complete();
    st.deferred = complete;
    setTimeout(() => st.deferred?.(), PENDING_WAIT_MS).unref();
  }

  // ---- outgoing (upstream) ----

  private current(): RequestState | undefined {
    const ctx = context.active();
    if (isTracingSuppressed(ctx)) return undefined;
    // the request whose async context this is first; the span next; the trace id last (concurrent
    // requests may share an incoming trace id, so that one is only a fallback)
    let st = this.store.getStore();
    if (!st || st.done) {
      const span = trace.getSpan(ctx);
      if (span) st = this.bySpan.get(span) ?? this.byTrace.get(span.spanContext().traceId);
    }
    if (!st || st.done) return undefined;
    return st;
  }

  private beginUpstream(key: object, host: string, method: string, path: string): UpstreamState | undefined {
    if (this.ignoreHosts.has(host)) return undefined;
    const st = this.current();
    if (!st) return undefined;
    st.upstreams++;
    if (!st.upstreamHosts.includes(host) && st.upstreamHosts.length < 8) st.upstreamHosts.push(host);
    const phase = st.upstreams === 1 ? 'upstream' : `upstream.${st.upstreams}`;
    const u: UpstreamState = { state: st, phase, call: undefined, status: undefined, retryAfter: undefined, ttfbOpen: true, streamOpen: false };
    this.upstream.set(key, u);
    st.open.add(u);
    const attrs: Attributes = { 'server.address': host, 'http.request.method': method, 'url.path': path };
    const h = this.handle(st);
    h.startPhase(phase, attrs);
    h.startPhase(`${phase}.ttfb`);
    const format = method === 'POST' ? apiFormatOf(path) : undefined;
    if (format) u.call = new GenAiCall(format, host, path, this.genai, () => this.onFirstChunk(u));
    return u;
  }

  /** The first output chunk of a streamed answer: `first_token` (dated from dispatch) ends, `stream` starts. */
  private onFirstChunk(u: UpstreamState): void {
    if (u.state.done || !u.call) return;
    const h = this.handle(u.state);
    h.startPhase(`${u.phase}.first_token`, undefined, u.call.startedAt);
    h.endPhase(`${u.phase}.first_token`);
    h.startPhase(`${u.phase}.stream`);
    u.streamOpen = true;
  }

  private onUndiciCreate({ request }: { request: UndiciRequest }): void {
    const host = hostOf(String(request.origin ?? ''));
    const p = String(request.path ?? '/');
    const q = p.indexOf('?');
    const u = this.beginUpstream(request, host, String(request.method ?? 'GET'), q < 0 ? p : p.slice(0, q));
    if (u?.call) wrapUndiciRequest(request, u.call);
  }

  private onUndiciHeaders({ request, response }: { request: object; response: { statusCode: number; headers: unknown } }): void {
    const u = this.upstream.get(request);
    if (!u) return;
    const status = response.statusCode;
    // raw headers are [name, value, …] buffers: only the three we use are decoded, only when needed
    let ct: string | undefined;
    let ce: string | undefined;
    if (u.call || status >= 400) {
      const raw = response.headers;
      if (Array.isArray(raw)) {
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const n = raw[i] as Buffer | string;
          const len = n.length;
          if (len !== 12 && len !== 16 && len !== 11) continue;
          const name = n.toString().toLowerCase();
          if (name === 'content-type') ct = String(raw[i + 1]);
          else if (name === 'content-encoding') ce = String(raw[i + 1]);
          else if (name === 'retry-after' && status >= 400) u.retryAfter = String(raw[i + 1]).slice(0, 64);
        }
      }
    }
    this.onUpstreamHeaders(u, status, ct, ce);
  }

  private onHttpClientStart({ request }: { request: ClientRequest }): void {
    if (this.upstream.has(request)) return;
    const host = String(request.getHeader('host') ?? request.host ?? '');
    const p = request.path ?? '/';
    const q = p.indexOf('?');
    const u = this.beginUpstream(request, host, request.method, q < 0 ? p : p.slice(0, q));
    if (u?.call) wrapWrites(request, u.call);
  }

  private onUpstreamHeaders(u: UpstreamState, status: number, contentType: string | undefined, contentEncoding: string | undefined): void {
    if (u.state.done) return;
    u.status = status;
    u.call?.responseHeaders(status, contentType, contentEncoding);
    u.ttfbOpen = false;
    this.handle(u.state).endPhase(`${u.phase}.ttfb`, { 'http.response.status_code': status });
  }

  private onHttpClientResponse({ request, response }: { request: ClientRequest; response: IncomingMessage }): void {
    const u = this.upstream.get(request);
    if (!u) return;
    const status = response.statusCode ?? 0;
    if (status >= 400) {
      const ra = response.headers['retry-after'];
      if (typeof ra === 'string') u.retryAfter = ra.slice(0, 64);
    }
    const ce = response.headers['content-encoding'];
    this.onUpstreamHeaders(u, status, response.headers['content-type'], typeof ce === 'string' ? ce : undefined);
    if (u.call) wrapDataEvents(response, u.call);
    response.once('end', () => this.onUpstreamDone(request, undefined));
    response.once('error', (e) => this.onUpstreamDone(request, e));
  }

  private onUpstreamDone(key: object, error: unknown): void {
    const u = this.upstream.get(key);
    if (!u) return;
    this.upstream.delete(key);
    if (u.state.done) return;
    const errorType = error ? errorTypeOf(error) : u.status !== undefined ? errorTypeOfStatus(u.status) : undefined;
    this.endUpstream(u, errorType, undefined, true);
  }

  /**
   * Ends an upstream call's phases and, for an LLM call, puts its GenAI result on the request's span
   * (at once, or when its decompressor drained: the request's completion waits for that, bounded).
   */
  private endUpstream(u: UpstreamState, errorType: string | undefined, extra: Attributes | undefined, record: boolean): void {
    const st = u.state;
    if (!st.open.delete(u)) return;
    const h = this.handle(st);
    const attrs: Attributes = { ...extra };
    if (errorType) {
      attrs['error.type'] = errorType;
      st.upstreamError = errorType;
    }
    if (u.retryAfter) attrs['http.response.header.retry-after'] = [u.retryAfter];
    if (u.ttfbOpen) {
      u.ttfbOpen = false;
      h.endPhase(`${u.phase}.ttfb`);
    }
    const call = u.call;
    if (!call) {
      h.endPhase(u.phase, attrs);
      return;
    }
    st.pending++;
    call.end(errorType, st.client, record, (r) => {
      try {
        if (r.errorType && !errorType) attrs['error.type'] = st.upstreamError = r.errorType;
        if (u.streamOpen) {
          u.streamOpen = false;
          h.endPhase(`${u.phase}.stream`, r.stream);
        }
        h.endPhase(u.phase, attrs);
        if (u.retryAfter) r.span['http.response.header.retry-after'] = [u.retryAfter];
        h.span.setAttributes(r.span);
      } catch {
        /* never into the host */
      }
      if (--st.pending === 0) st.deferred?.();
    });
  }
}

/**
 * undici's Request (the object its create channel publishes) passes every request body chunk through
 * its own onBodySent and every response body chunk through its own onData, in every undici version
 * since 5 (the bodyChunkSent / bodyChunkReceived channels exist only since 7.x, and CCR 3.1.1 bundles
 * an older undici): own-property wrappers on this one request feed the call and return what the
 * originals return. False when the published object is not such a request.
 */
function wrapUndiciRequest(request: object, call: GenAiCall): boolean {
  const r = request as Record<string, unknown>;
  const onData = r.onData;
  const onBodySent = r.onBodySent;
  if (typeof onData !== 'function' || typeof onBodySent !== 'function') return false;
  r.onBodySent = function (this: unknown, chunk: unknown) {
    try {
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) call.requestChunk(chunk);
    } catch {
      /* never into the host */
    }
    return (onBodySent as (c: unknown) => unknown).call(this, chunk);
  };
  r.onData = function (this: unknown, chunk: unknown) {
    try {
      if (chunk instanceof Uint8Array) call.responseChunk(chunk);
    } catch {
      /* never into the host */
    }
    return (onData as (c: unknown) => unknown).call(this, chunk);
  };
  return true;
}

/** Feeds what a ClientRequest writes (the LLM request body) to the call; the writes themselves are untouched. */
function wrapWrites(request: ClientRequest, call: GenAiCall): void {
  const r = request as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['write', 'end'] as const) {
    const orig = r[name];
    r[name] = function (this: unknown, ...args: unknown[]) {
      try {
        const c = args[0];
        if (typeof c === 'string' || c instanceof Uint8Array) call.requestChunk(c);
      } catch {
        /* never into the host */
      }
      return orig.apply(this, args);
    };
  }
}

/** Sees an upstream answer's 'data' events (whoever reads it, however: emit covers read() and pipes). */
function wrapDataEvents(response: IncomingMessage, call: GenAiCall): void {
  const own = Object.prototype.hasOwnProperty.call(response, 'emit');
  const orig = response.emit;
  const wrapper = function (this: IncomingMessage, ev: string | symbol, c?: unknown): boolean {
    try {
      if (ev === 'data') {
        call.responseChunk(typeof c === 'string' ? Buffer.from(c) : (c as Uint8Array));
      } else if (ev === 'end' && response.emit === wrapper) {
        if (own) response.emit = orig;
        else delete (response as Partial<IncomingMessage>).emit;
      }
    } catch {
      /* never into the host */
    }
    // eslint-disable-next-line prefer-rest-params
    return (orig as (...a: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
  } as typeof response.emit;
  response.emit = wrapper;
}

/** host[:port] of an undici origin; a gateway calls few origins, so each is parsed once. */
const hosts = new Map<string, string>();
function hostOf(origin: string): string {
  let host = hosts.get(origin);
  if (host === undefined) {
    host = origin.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').replace(/^[^@]*@/, '');
    if (hosts.size < 256) hosts.set(origin, host);
  }
  return host;
}

interface UndiciRequest {
  origin?: unknown;
  path?: unknown;
  method?: unknown;
}

