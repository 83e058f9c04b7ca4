import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { getRPCMetadata, isTracingSuppressed, RPCType, setRPCMetadata } from '@opentelemetry/core';
import type { BoundHistogram, LocalHistogram, RequestHandle, RequestTracker } from '@ccr/otel-processors';
import { errorTypeOf, errorTypeOfStatus } from './genai/errors';
import { JsonWindow } from './genai/json-window';
import { apiFormatOf, splitModel } from './genai/providers';
import { requestFields } from './genai/request-fields';
import type { ClientAsk, GenAiCall, GenAiOptions } from './genai/upstream-call';
import { normalizeMethod, schemeOf, serverErrorType, serverSpanAttributes } from './http-server-span';

/**
 * Zero-code request tracking from node's diagnostics channels. Every incoming HTTP request becomes a
 * tracked request (on its HTTP server span, made here, when `serverSpans` is given) with phases:
 *
 * | phase            | starts                                   | ends                                      |
 * |------------------|------------------------------------------|-------------------------------------------|
 * | `ingress`        | http.server.request.start                | request body fully read ('end')           |
 * | `upstream[.N]`   | undici:request:create / http.client.request.start | trailers / response end / error  |
 * | `response`       | first byte written back (write/end/flushHeaders) | http.server.response.finish        |
 *
 * The upstream phase's sub-phases ride on its event as attributes, not events of their own (an event
 * costs more than an attribute on every request): `ccr.phase.ttfb_ms` (to the upstream's response
 * headers; their status as http.response.status_code), and for a streamed LLM answer
 * `ccr.phase.first_token_ms` (to the first output chunk) and `ccr.phase.stream_ms` (first chunk to the
 * end). Their durations still go to ccr.request.phase.duration as `upstream[.N].ttfb`,
 * `.first_token` and `.stream`.
 *
 * and on completion: http.request.method, http.route, http.response.status_code,
 * server.address of the upstream(s), gen_ai.request.model and ccr.streaming when the JSON body says so.
 * An upstream call to an LLM API path (genai/providers.ts) is a GenAiCall: the GenAI attributes of
 * its request and answer land on the request's span and in the GenAI metrics (genai/upstream-call.ts).
 * Header values are never read except content-type, content-length, and of upstream answers
 * content-encoding and retry-after; URLs are recorded without their query string. `http.route` is the raw path (query removed) only as a fallback: node's http
 * knows no route templates; the template a framework instrumentation sets in the server span's RPC
 * metadata overwrites it (and names the span `METHOD route`). `http.request.body.size` comes from
 * content-length, else from the bytes counted up to the body's end; it is left out when unknown.
 */
export interface RequestTrackingOptions {
  tracker: RequestTracker;
  /** Bytes at the start of a JSON body looked at for "model" (the last 1 KiB is looked at too, for "stream" and "max_tokens"); 0 turns peeking off. Default 4096. */
  bodyPeekBytes?: number;
  /** GenAI attributes, metrics, pricing and the opt-in capture of upstream LLM calls. */
  genai?: GenAiOptions;
  /**
   * HTTP server spans, in place of instrumentation-http's incoming side (http-server-span.ts says why):
   * every incoming request gets a SpanKind.SERVER span from `tracer` (its parent from the request's
   * headers; named by the method, `METHOD route` when a framework sets the route in the RPC metadata),
   * which is the active span while the server's 'request' listeners and the request's and response's
   * listeners run; the request is tracked on it, and it ends when the request completes, dated at the
   * response's finish (or close). `duration` gets http.server.request.duration (seconds). Without
   * this option a request is tracked on a span of its own, not made active.
   */
  serverSpans?: { tracer: Tracer; duration?: LocalHistogram };
  /** host:port of our own OTLP endpoints: outgoing requests there are never upstream phases. */
  ignoreHosts?: string[];
}

interface RequestState {
  tracking: HttpRequestTracking;
  /** The HTTP server span (serverSpans) until it ends, and its context. */
  serverSpan: Span | undefined;
  ctx: Context | undefined;
  /** performance.now() when the response finished or closed. */
  finishedAt: number | undefined;
  /** What the 'request' listeners threw or the response emitted as 'error'. */
  error: Error | undefined;
  /** performance.now() at the request's start. */
  startedAt: number;
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
  /** The first byte of the answer was written (write/end/flushHeaders). */
  firstByte: boolean;
  done: boolean;
  peek: JsonWindow | undefined;
  /** Body bytes seen in 'data' events, and whether 'end' came. */
  bodyBytes: number;
  bodyComplete: boolean;
  traceId?: string;
  /** What the client's body asked for (model split from CCR's `provider,model`). */
  client: ClientAsk;
  /** Upstream calls not ended yet. */
  open: UpstreamState[];
  /** GenAI results still being read (a decompressor draining): completion waits for them, bounded. */
  pending: number;
  /** Set while completion waits for `pending`: how the request ends. */
  deferred: { success: boolean; extra: Attributes } | undefined;
  /** error.type of the last failed upstream call. */
  upstreamError: string | undefined;
}

interface UpstreamState {
  state: RequestState;
  phase: string;
  call: GenAiCall | undefined;
  status: number | undefined;
  retryAfter: string | undefined;
  /** performance.now() at dispatch. */
  startedAt: number;
  /** Dispatch to the response headers (ms), once they came. */
  ttfbMs: number | undefined;
  /** performance.now() at the first output chunk of a streamed answer. */
  firstChunkAt: number | undefined;
}

const STREAMING: Attributes = Object.freeze({ 'ccr.streaming': true });

/** Longest wait of a request's completion for its GenAI results (decompression), ms. */
const PENDING_WAIT_MS = 1000;

/*
 * Per-request state is kept beside node's and undici's objects, in WeakMaps, and the few methods we
 * must see (a request's body events, the first byte of its answer, its close; an LLM call's body
 * chunks) are hooked once on their prototypes (installHooks): no closure, wrapper or listener per
 * request, and no property added to objects that node's and undici's hot code handles: an added
 * property gives such an object a second shape, and that code then runs polymorphic for every request
 * (measured with node bench/gateway/run.mjs, symbol properties against these WeakMaps, interleaved
 * at 300 requests/s: 1.18 against 1.14 ms of CPU per request in one 60 s run, 1.67 against 1.70 in
 * three 20 s runs: within the machine's noise either way). A delete would be worse still (a slow
 * dictionary object for the rest of its life).
 */
/**
 * A server IncomingMessage or its ServerResponse → the request's state (its server span's context is
 * `ctx` there: the request's and response's listeners run in it). One map for both: two entries per
 * request, not four.
 */
const stateOf = new WeakMap<object, RequestState>();
/** An undici Request or a ClientRequest → the upstream call's state. */
const upstreamOf = new WeakMap<object, UpstreamState>();
/** A client IncomingMessage (an upstream's answer) until it ended → the upstream call's state. */
const upstreamResponseOf = new WeakMap<object, { request: ClientRequest; u: UpstreamState }>();
/**
 * On the request's (recording) span until the request is done: its state, for outgoing calls that
 * find their request through the active span. A symbol here, not a WeakMap: it is looked up for
 * every outgoing call (the profile: 82 → 28 ms self time over 9,000 requests), and only request
 * spans carry it.
 */
const kSpanRequest = Symbol('ccr-otel.span-request');

type Tagged<K extends symbol, T> = { [k in K]?: T };

let counter = 0;
let idPrefix = '';

export class HttpRequestTracking {
  /** The request whose async context this is: for requests without a server span to find them by. */
  private readonly store = new AsyncLocalStorage<RequestState>();
  private readonly byTrace = new Map<string, RequestState>();
  private readonly subs: Array<[string, (m: unknown) => void]> = [];
  private readonly tracker: RequestTracker;
  private readonly peekBytes: number;
  private readonly serverTracer: Tracer | undefined;
  private readonly serverDuration: LocalHistogram | undefined;
  /** http.server.request.duration's series by method, status, scheme, protocol version and route (a gateway has few). */
  private readonly durationSeries = new Map<string, BoundHistogram>();
  private readonly ignoreHosts: Set<string>;
  private readonly genai: GenAiOptions;

  constructor(opts: RequestTrackingOptions) {
    this.tracker = opts.tracker;
    this.genai = opts.genai ?? {};
    this.peekBytes = opts.bodyPeekBytes ?? 4096;
    this.serverTracer = opts.serverSpans?.tracer;
    this.serverDuration = opts.serverSpans?.duration;
    this.ignoreHosts = new Set(opts.ignoreHosts ?? []);
  }

  start(): void {
    installHooks();
    this.on('http.server.request.start', (m) => this.onServerStart(m as { request: IncomingMessage; response: ServerResponse; server?: object }));
    this.on('http.server.response.finish', (m) => this.onServerFinish(m as { response: ServerResponse }));
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

  /**
   * Outgoing requests find their incoming one through the active span (or its trace). The server span
   * is indexed even when the sampler left it unrecorded: its upstream calls still give their GenAI
   * metrics. The tracker's shared non-recording span (a request it left untracked) is not.
   */
  private index(st: RequestState): void {
    const span = st.serverSpan ?? st.handle?.span;
    if (!span || (span !== st.serverSpan && !span.isRecording())) return;
    try {
      (span as Tagged<typeof kSpanRequest, RequestState>)[kSpanRequest] = st;
    } catch {
      /* a span that takes no property (frozen): found by its trace id */
    }
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

  /**
   * The request's handle; without a server span (serverSpans not given) it is tracked on a span of
   * its own, dated at the request's start.
   */
  private handle(st: RequestState): RequestHandle {
    return st.handle ?? this.track(st, { parent: propagation.extract(ROOT_CONTEXT, st.req.headers), startTime: st.startedAt });
  }

  /** Tracks the request (on `span`, or on a span of its own), its ingress phase dated at its start. */
  private track(st: RequestState, options: { span: Span } | { parent: Context; startTime: number }): RequestHandle {
    const h = (st.handle = this.tracker.trackRequest(st.id, st.attrs, options));
    h.startPhase('ingress', undefined, st.startedAt);
    this.index(st);
    return h;
  }

  private onServerStart({ request: req, response: res }: { request: IncomingMessage; response: ServerResponse }): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (!idPrefix) idPrefix = `${process.pid}-`;
    const st: RequestState = {
      tracking: this,
      serverSpan: undefined,
      ctx: undefined,
      finishedAt: undefined,
      error: undefined,
      startedAt: performance.now(),
      handle: undefined,
      id: idPrefix + ++counter,
      req,
      res,
      path,
      method,
      attrs: { 'http.request.method': normalizeMethod(method), 'http.route': path },
      upstreams: 0,
      upstreamHosts: [],
      ingressOpen: true,
      responseOpen: false,
      firstByte: false,
      done: false,
      peek: undefined,
      bodyBytes: 0,
      bodyComplete: false,
      client: {},
      open: [],
      pending: 0,
      deferred: undefined,
      upstreamError: undefined,
    };
    stateOf.set(req, st);
    stateOf.set(res, st);
    if (this.serverTracer) this.startServerSpan(st, this.serverTracer, q < 0 ? undefined : url.slice(q + 1));
    else {
      // no server span to find the request by: outgoing calls find it in the async context
      this.store.enterWith(st);
      this.handle(st);
    }
    if (this.peekBytes > 0 && method !== 'GET' && method !== 'HEAD') {
      const ct = req.headers['content-type'];
      if (typeof ct === 'string' && ct.includes('json')) st.peek = new JsonWindow(this.peekBytes, 1024, false);
    }
  }

  /**
   * The server span, at the request's start (this channel publishes right before the server emits
   * 'request', in the same tick): the server's emit hook runs the 'request' listeners in its context,
   * the request's and response's emit hooks run theirs in it (installHooks).
   */
  private startServerSpan(st: RequestState, tracer: Tracer, query: string | undefined): void {
    const req = st.req;
    const method = st.attrs['http.request.method'] as string;
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(st.method, { kind: SpanKind.SERVER, attributes: serverSpanAttributes(req, method, st.path, query) }, parent);
    const ctx = setRPCMetadata(trace.setSpan(parent, span), { type: RPCType.HTTP, span });
    st.serverSpan = span;
    st.ctx = ctx;
    this.track(st, { span });
  }

  /**
   * What the server's 'request' listeners threw (`thrown`: the request ends now, failed, as the process
   * may not outlive it), or the response's 'error' (on the server span at its end).
   */
  serverError(st: RequestState, error: unknown, thrown: boolean): void {
    if (!st.error) st.error = asError(error);
    if (thrown && !st.done) this.finish(st, false, { 'error.type': st.error.name }, false);
  }

  /** A server request's 'data' (body bytes, and the JSON peek) and 'end' (ingress done), from the emit hook. */
  requestEvent(st: RequestState, ev: string | symbol, chunk: unknown): void {
    if (ev === 'data') {
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : ((chunk as Uint8Array | undefined)?.byteLength ?? 0);
      st.bodyBytes += n;
      if (st.peek) st.peek.write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    } else if (ev === 'end') {
      st.bodyComplete = true;
      this.endIngress(st);
    }
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
      st.handle?.setAttributes(attrs);
    }
    st.peek = undefined;
    // the body size only when it is known: content-length, else every byte counted up to 'end'
    const cl = Number(st.req.headers['content-length']);
    const size = Number.isInteger(cl) && cl >= 0 ? cl : st.bodyComplete ? st.bodyBytes : undefined;
    this.handle(st).endPhase('ingress', size === undefined ? undefined : { 'http.request.body.size': size });
  }

  /** The first of write/end/flushHeaders on the response (from its hook): the `response` phase starts. */
  firstByte(st: RequestState): void {
    st.firstByte = true;
    if (st.done) return;
    const res = st.res;
    const h = this.handle(st);
    const ct = res.getHeader('content-type');
    if (typeof ct === 'string' && ct.includes('text/event-stream')) {
      st.attrs['ccr.streaming'] = true;
      h.setAttributes(STREAMING);
    }
    st.responseOpen = true;
    h.startPhase('response', { 'http.response.status_code': res.statusCode });
  }

  /** The response closed (its emit hook): before it finished, the client went away: a cancel (Esc in Claude Code), not an error. */
  responseClosed(st: RequestState): void {
    if (st.done) return;
    // sent in full: its finish was not seen (tracking stopped while it ran), not a cancel
    if (st.res.writableFinished) this.onServerFinish({ response: st.res });
    else this.finish(st, true, { 'ccr.request.cancelled': true }, true);
  }

  /**
   * A request succeeds when it answers below 400; a failed one carries error.type: on a server span the
   * status for a 5xx (as the HTTP semconv asks), else its upstream's class, else its status. The
   * upstream's class also stays in ccr.upstream.error.type.
   */
  private onServerFinish({ response }: { response: ServerResponse }): void {
    const st = stateOf.get(response);
    if (!st || st.done || st.tracking !== this) return;
    const status = st.res.statusCode;
    const failed = status >= 400;
    const attrs: Attributes = failed ? { 'error.type': (st.serverSpan && serverErrorType(status)) || (st.upstreamError ?? String(status)) } : {};
    if (st.upstreamError) attrs['ccr.upstream.error.type'] = st.upstreamError;
    this.finish(st, !failed, attrs, false);
  }

  private finish(st: RequestState, success: boolean, extra: Attributes, cancelled: boolean): void {
    st.done = true;
    st.finishedAt = performance.now();
    if (st.serverSpan) this.recordServerDuration(st, (st.finishedAt - st.startedAt) / 1000);
    if (st.traceId && this.byTrace.get(st.traceId) === st) this.byTrace.delete(st.traceId);
    // the span may outlive the request (batched for export): it lets go of the request's state
    const span = (st.serverSpan ?? st.handle?.span) as Tagged<typeof kSpanRequest, RequestState> | undefined;
    if (span?.[kSpanRequest] === st) span[kSpanRequest] = undefined;
    // whatever throws here, the request still completes (and its server span ends)
    try {
      const h = this.handle(st);
      if (st.ingressOpen) this.endIngress(st);
      if (st.responseOpen) {
        st.responseOpen = false;
        h.endPhase('response');
      }
      // upstream calls still open: the answer went out (or the client left) before they ended
      if (st.open.length) for (const u of st.open.slice()) this.endUpstream(u, undefined, cancelled ? { 'ccr.request.cancelled': true } : { 'ccr.upstream.incomplete': true }, !cancelled);
    } catch {
      /* telemetry never breaks the app */
    }
    st.deferred = { success, extra };
    if (st.pending === 0) return this.complete(st);
    setTimeout(() => this.complete(st), PENDING_WAIT_MS).unref();
  }

  /** Ends the request's span: at once, or when its GenAI results came in (or the wait ran out). */
  private complete(st: RequestState): void {
    const d = st.deferred;
    if (!d) return;
    st.deferred = undefined;
    const attrs: Attributes = d.extra;
    attrs['http.response.status_code'] = st.res.statusCode;
    attrs['ccr.upstream.count'] = st.upstreams;
    if (st.upstreamHosts.length) attrs['ccr.upstream.hosts'] = st.upstreamHosts;
    this.handle(st).complete(d.success, attrs);
    if (st.serverSpan) this.endServerSpan(st, st.serverSpan);
  }

  /** The server span ends at the response's finish (or close), after the request's last attributes. */
  private endServerSpan(st: RequestState, span: Span): void {
    st.serverSpan = undefined;
    // set here too: a request the tracker left untracked (overload) or gave up on has no complete()
    const status = st.res.statusCode;
    const held = (span as { attributes?: Attributes }).attributes;
    if (held?.['http.response.status_code'] !== status) span.setAttribute('http.response.status_code', status);
    const err = st.error;
    const errorType = serverSpanErrorType(st);
    if (errorType !== undefined && held?.['error.type'] !== errorType) span.setAttribute('error.type', errorType);
    if (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      span.recordException(err);
    } else if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
    const route = this.rpcRoute(st);
    if (route !== undefined) {
      span.setAttribute('http.route', route);
      span.updateName(`${st.method} ${route}`);
    }
    span.end(st.finishedAt);
  }

  /** The route a framework instrumentation set in the server span's RPC metadata, if any. */
  private rpcRoute(st: RequestState): string | undefined {
    const md = st.ctx && getRPCMetadata(st.ctx);
    return md?.type === RPCType.HTTP && typeof md.route === 'string' ? md.route : undefined;
  }

  /** http.server.request.duration (s): its series bound once per method, status, scheme, version and route. */
  private recordServerDuration(st: RequestState, seconds: number): void {
    const h = this.serverDuration;
    if (!h) return;
    const method = st.attrs['http.request.method'] as string;
    const status = st.res.statusCode;
    const scheme = schemeOf(st.req);
    const version = st.req.httpVersion;
    const route = this.rpcRoute(st);
    const errorType = serverSpanErrorType(st);
    const key = `${method} ${status} ${scheme} ${version} ${route ?? ''} ${errorType ?? ''}`;
    let series = this.durationSeries.get(key);
    if (series === undefined) {
      const a: Attributes = { 'http.request.method': method, 'url.scheme': scheme, 'http.response.status_code': status };
      if (version) a['network.protocol.version'] = version;
      if (route !== undefined) a['http.route'] = route;
      if (errorType !== undefined) a['error.type'] = errorType;
      series = h.bind(a);
      if (this.durationSeries.size < 1000) this.durationSeries.set(key, series);
    }
    series.record(seconds);
  }

  // ---- outgoing (upstream) ----

  private current(): RequestState | undefined {
    const ctx = context.active();
    if (isTracingSuppressed(ctx)) return undefined;
    // the request whose async context this is first (requests without a server span); the active span next;
    // its trace id last (concurrent requests may share an incoming trace id: only a fallback)
    let st = this.store.getStore();
    if (!st || st.done) {
      const span = trace.getSpan(ctx) as (Span & Tagged<typeof kSpanRequest, RequestState>) | undefined;
      if (span) {
        st = span[kSpanRequest];
        if (st === undefined || st.tracking !== this) st = this.byTrace.get(span.spanContext().traceId);
      }
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
    const startedAt = performance.now();
    const u: UpstreamState = { state: st, phase, call: undefined, status: undefined, retryAfter: undefined, startedAt, ttfbMs: undefined, firstChunkAt: undefined };
    upstreamOf.set(key, u);
    st.open.push(u);
    this.handle(st).startPhase(phase, { 'server.address': host, 'http.request.method': method, 'url.path': path }, startedAt);
    const format = method === 'POST' ? apiFormatOf(path) : undefined;
    if (format) u.call = new (genAiCall())(format, host, path, this.genai, (at) => this.onFirstChunk(u, at));
    return u;
  }

  /** The first output chunk of a streamed answer (`at`: the parser's clock reading, also gen_ai's time to first chunk): `first_token` (from dispatch) ends, `stream` starts. */
  private onFirstChunk(u: UpstreamState, at: number): void {
    if (u.state.done || !u.call || u.firstChunkAt !== undefined) return;
    u.firstChunkAt = at;
    this.handle(u.state).phaseDuration(u.phase === 'upstream' ? 'upstream.first_token' : `${u.phase}.first_token`, u.firstChunkAt - u.startedAt);
  }

  private onUndiciCreate({ request }: { request: UndiciRequest }): void {
    const host = hostOf(String(request.origin ?? ''));
    const p = String(request.path ?? '/');
    const q = p.indexOf('?');
    const u = this.beginUpstream(request, host, String(request.method ?? 'GET'), q < 0 ? p : p.slice(0, q));
    // without the hook (not such a Request) the call still gets its answer's headers and end
    if (u?.call) hookUndiciRequest(request);
  }

  private onUndiciHeaders({ request, response }: { request: object; response: { statusCode: number; headers: unknown } }): void {
    const u = upstreamOf.get(request);
    if (!u || u.state.tracking !== this) return;
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
    if (upstreamOf.has(request)) return;
    const host = String(request.getHeader('host') ?? request.host ?? '');
    const p = request.path ?? '/';
    const q = p.indexOf('?');
    this.beginUpstream(request, host, request.method, q < 0 ? p : p.slice(0, q));
  }

  private onUpstreamHeaders(u: UpstreamState, status: number, contentType: string | undefined, contentEncoding: string | undefined): void {
    if (u.state.done) return;
    u.status = status;
    u.call?.responseHeaders(status, contentType, contentEncoding);
    if (u.ttfbMs !== undefined) return;
    u.ttfbMs = performance.now() - u.startedAt;
    // the first upstream's sub-phase names are constants (hashed once for the histogram's series look-up), later ones built
    this.handle(u.state).phaseDuration(u.phase === 'upstream' ? 'upstream.ttfb' : `${u.phase}.ttfb`, u.ttfbMs);
  }

  private onHttpClientResponse({ request, response }: { request: ClientRequest; response: IncomingMessage }): void {
    const u = upstreamOf.get(request);
    if (!u || u.state.tracking !== this) return;
    const status = response.statusCode ?? 0;
    if (status >= 400) {
      const ra = response.headers['retry-after'];
      if (typeof ra === 'string') u.retryAfter = ra.slice(0, 64);
    }
    const ce = response.headers['content-encoding'];
    this.onUpstreamHeaders(u, status, response.headers['content-type'], typeof ce === 'string' ? ce : undefined);
    // its 'data' (for an LLM call), 'end' and 'error' come through the emit hook
    upstreamResponseOf.set(response, { request, u });
  }

  /** An upstream answer's 'data' / 'end' / 'error' (the emit hook: whoever reads it, however). */
  upstreamResponseEvent(response: IncomingMessage, tag: { request: ClientRequest; u: UpstreamState }, ev: string | symbol, c: unknown): void {
    if (ev === 'data') {
      tag.u.call?.responseChunk(typeof c === 'string' ? Buffer.from(c) : (c as Uint8Array));
    } else if (ev === 'end' || ev === 'error') {
      upstreamResponseOf.delete(response);
      this.onUpstreamDone(tag.request, ev === 'error' ? c : undefined);
    }
  }

  private onUpstreamDone(key: object, error: unknown): void {
    const u = upstreamOf.get(key);
    if (!u || u.state.tracking !== this) return;
    upstreamOf.delete(key);
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
    const i = st.open.indexOf(u);
    if (i < 0) return;
    st.open.splice(i, 1);
    const h = this.handle(st);
    const attrs: Attributes = extra ?? {};
    if (errorType) {
      attrs['error.type'] = errorType;
      st.upstreamError = errorType;
    }
    if (u.retryAfter) attrs['http.response.header.retry-after'] = [u.retryAfter];
    if (u.ttfbMs !== undefined) {
      attrs['http.response.status_code'] = u.status;
      attrs['ccr.phase.ttfb_ms'] = u.ttfbMs;
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
        if (u.firstChunkAt !== undefined) {
          const streamMs = performance.now() - u.firstChunkAt;
          attrs['ccr.phase.first_token_ms'] = u.firstChunkAt - u.startedAt;
          attrs['ccr.phase.stream_ms'] = streamMs;
          if (r.stream) Object.assign(attrs, r.stream);
          h.phaseDuration(u.phase === 'upstream' ? 'upstream.stream' : `${u.phase}.stream`, streamMs);
        }
        h.endPhase(u.phase, attrs);
        if (u.retryAfter) r.span['http.response.header.retry-after'] = [u.retryAfter];
        h.setAttributes(r.span);
      } catch {
        /* never into the host */
      }
      if (--st.pending === 0) this.complete(st);
    });
  }

  /** An LLM call's request body chunk (undici's onBodySent or ClientRequest's write/end hook). */
  static requestChunk(u: UpstreamState | undefined, chunk: unknown): void {
    if (u?.call && (typeof chunk === 'string' || chunk instanceof Uint8Array)) u.call.requestChunk(chunk);
  }
}

/*
 * The hooks, installed once per process (whatever number of HttpRequestTracking instances): each
 * looks its object up in the WeakMaps above and does nothing more for one it does not find. Each calls what the
 * prototype chain held at install time for the method (an own method of the prototype), else the
 * parent prototype's current one, so a later patch of the parent (another instrumentation) is kept.
 */
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const http = require('node:http') as typeof import('node:http');
  const servers: unknown[] = [http.Server.prototype];
  try {
    servers.push((require('node:https') as typeof import('node:https')).Server.prototype);
  } catch {
    /* a node built without TLS */
  }
  // a server's 'request' (or 'checkContinue' / 'checkExpectation') listeners run in the request's server
  // span context; what they throw ends the request, failed
  for (const server of servers as Array<Record<string | symbol, unknown>>) {
    hook(server, 'emit', undefined, requestListenersContext, (e, _ev, _req, res) => {
      const st = stateOf.get(res as object);
      if (st !== undefined) st.tracking.serverError(st, e, true);
    });
  }
  const incoming = http.IncomingMessage.prototype as unknown as Record<string | symbol, unknown>;
  hook(
    incoming,
    'emit',
    function (this: IncomingMessage, ev: unknown, chunk: unknown) {
      const st = stateOf.get(this);
      if (st !== undefined) {
        if (!st.bodyComplete) st.tracking.requestEvent(st, ev as string, chunk);
      } else {
        const tag = upstreamResponseOf.get(this);
        if (tag !== undefined) tag.u.state.tracking.upstreamResponseEvent(this, tag, ev as string, chunk);
      }
    },
    listenersContext,
  );
  const response = http.ServerResponse.prototype as unknown as Record<string | symbol, unknown>;
  const firstByte = function (this: ServerResponse) {
    const st = stateOf.get(this);
    if (st !== undefined && !st.firstByte) st.tracking.firstByte(st);
  };
  hook(response, 'write', firstByte);
  hook(response, 'end', firstByte);
  hook(response, 'flushHeaders', firstByte);
  hook(
    response,
    'emit',
    function (this: ServerResponse, ev: unknown, err: unknown) {
      if (ev !== 'close' && ev !== 'error') return;
      const st = stateOf.get(this);
      if (st === undefined || st.done) return;
      if (ev === 'error') st.tracking.serverError(st, err, false);
      else st.tracking.responseClosed(st);
    },
    listenersContext,
  );
  const client = http.ClientRequest.prototype as unknown as Record<string | symbol, unknown>;
  const requestChunk = function (this: ClientRequest, chunk: unknown) {
    HttpRequestTracking.requestChunk(upstreamOf.get(this), chunk);
  };
  hook(client, 'write', requestChunk);
  hook(client, 'end', requestChunk);
}

type Before = (this: any, a: unknown, b: unknown) => void;
/** The context a hooked call runs in (undefined: as it is). */
type ContextFor = (self: object, a: unknown, b: unknown) => Context | undefined;

/**
 * Makes proto[name] call `before` (never throwing into the caller) and then the method it stood for,
 * in the context `contextFor` gives, if any (a server request's or response's listeners then run in
 * its server span's context, as instrumentation-http's bound emitters did, without a wrapper per
 * listener). `onThrow` sees what that call threw, before it goes on to the caller.
 */
function hook(
  proto: Record<string | symbol, unknown>,
  name: string,
  before: Before | undefined,
  contextFor?: ContextFor,
  onThrow?: (e: unknown, a: unknown, b: unknown, c: unknown) => void,
): void {
  const own = Object.prototype.hasOwnProperty.call(proto, name) ? (proto[name] as (...a: unknown[]) => unknown) : undefined;
  const parent = Object.getPrototypeOf(proto) as Record<string, (...a: unknown[]) => unknown>;
  proto[name] = function (this: object, a: unknown, b: unknown, c: unknown) {
    if (before) {
      try {
        before.call(this, a, b);
      } catch {
        /* never into the host */
      }
    }
    const fn = own ?? parent[name];
    const ctx = contextFor?.(this, a, b);
    // eslint-disable-next-line prefer-rest-params
    if (ctx === undefined) return fn.apply(this, arguments as unknown as unknown[]);
    try {
      // eslint-disable-next-line prefer-rest-params
      return context.with(ctx, applyTo, undefined, fn, this, arguments);
    } catch (e) {
      try {
        onThrow?.(e, a, b, c);
      } catch {
        /* never into the host */
      }
      throw e;
    }
  };
}

/** A server request's or response's event, with listeners (most of their events are node's own, with none). */
const listenersContext: ContextFor = (self, ev) =>
  (self as { _events?: Record<string | symbol, unknown> })._events?.[ev as string] !== undefined ? stateOf.get(self)?.ctx : undefined;

/** A server's 'request' (or 'checkContinue' / 'checkExpectation'): its handler runs in the request's context. */
const requestListenersContext: ContextFor = (_self, ev, req) =>
  ev === 'request' || ev === 'checkContinue' || ev === 'checkExpectation' ? stateOf.get(req as object)?.ctx : undefined;

/** fn.apply(self, args), for context.with (which would otherwise bind a function per call). */
function applyTo(fn: (...a: unknown[]) => unknown, self: unknown, args: IArguments): unknown {
  return fn.apply(self, args as unknown as unknown[]);
}

/**
 * undici's Request (the object its create channel publishes) passes every request body chunk through
 * its onBodySent and every response body chunk through its onData, in every undici version since 5
 * (the bodyChunkSent / bodyChunkReceived channels exist only since 7.x, and CCR 3.1.1 bundles an
 * older undici). Each Request class (node's bundled undici, an app's own copy) gets both hooked on its
 * prototype the first time one of its requests carries an LLM call. False when the published object
 * is not such a request (its bodies are then not read).
 */
const hookedUndici = new WeakSet<object>();
function hookUndiciRequest(request: object): boolean {
  const proto = Object.getPrototypeOf(request) as Record<string, unknown> | null;
  if (!proto) return false;
  if (hookedUndici.has(proto)) return true;
  const onData = proto.onData;
  const onBodySent = proto.onBodySent;
  if (typeof onData !== 'function' || typeof onBodySent !== 'function') return false;
  const own = request as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(own, 'onData') || Object.prototype.hasOwnProperty.call(own, 'onBodySent')) return false;
  hookedUndici.add(proto);
  proto.onBodySent = function (this: object, chunk: unknown) {
    try {
      HttpRequestTracking.requestChunk(upstreamOf.get(this), chunk);
    } catch {
      /* never into the host */
    }
    return (onBodySent as (c: unknown) => unknown).call(this, chunk);
  };
  proto.onData = function (this: object, chunk: unknown) {
    try {
      const u = upstreamOf.get(this);
      if (u?.call && chunk instanceof Uint8Array) u.call.responseChunk(chunk);
    } catch {
      /* never into the host */
    }
    return (onData as (c: unknown) => unknown).call(this, chunk);
  };
  return true;
}

/** The GenAI call reader (and its response parsers) loads with the first LLM call, not at start-up. */
let GenAiCallClass: typeof GenAiCall | undefined;
function genAiCall(): typeof GenAiCall {
  return (GenAiCallClass ??= (require('./genai/upstream-call') as typeof import('./genai/upstream-call')).GenAiCall);
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

/** error.type of a server span and its duration record: what its listeners threw, else a 5xx status. */
function serverSpanErrorType(st: RequestState): string | undefined {
  return st.error ? st.error.name : serverErrorType(st.res.statusCode);
}

/** An Error for anything thrown or emitted (a null-prototype object has no String()). */
function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  const o = e as { name?: unknown; message?: unknown } | null;
  if (typeof o === 'object' && o !== null && typeof o.message === 'string') {
    const err = new Error(o.message);
    if (typeof o.name === 'string') err.name = o.name;
    return err;
  }
  try {
    return new Error(String(e));
  } catch {
    return new Error('unreadable error');
  }
}
