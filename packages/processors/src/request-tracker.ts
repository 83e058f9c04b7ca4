import {
  SpanKind,
  SpanStatusCode,
  trace,
  INVALID_SPAN_CONTEXT,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { BoundHistogram, LocalHistogram, LocalHistograms } from './local-histograms';

export interface RequestTrackerOptions {
  tracer: Tracer;
  /** Most requests tracked at once; beyond it the oldest is ended (ccr.request.evicted). Default 10,000. */
  maxActive?: number;
  /** A request older than this is ended by the sweep (ccr.request.abandoned). Default 3,600,000 ms. */
  ttlMs?: number;
  /** How often the sweep runs. Default 30,000 ms. */
  sweepIntervalMs?: number;
  /** Reports ccr.request.active. */
  meterProvider?: MeterProvider;
  /** Where ccr.request.duration and ccr.request.phase.duration (ms) are recorded (its producers go to the metric readers). */
  histograms?: LocalHistograms;
  /** Process load 0..1 (e.g. a LoadMonitor's). Above `overloadThreshold`, only 1 in `overloadSampleEvery` new requests is tracked. */
  load?: () => number;
  /** Default 0.8. */
  overloadThreshold?: number;
  /** Default 10. */
  overloadSampleEvery?: number;
  /** Span name. Default `ccr.request`. */
  spanName?: string;
}

export const REQUEST_TRACKER_DEFAULTS = Object.freeze({
  maxActive: 10_000,
  ttlMs: 3_600_000,
  sweepIntervalMs: 30_000,
  overloadThreshold: 0.8,
  overloadSampleEvery: 10,
  spanName: 'ccr.request',
});

export interface TrackRequestOptions {
  /** Parent context of the request's span. */
  parent?: Context;
  /** Track on this existing span (e.g. the HTTP server span) instead of starting one; it is not ended by the tracker. */
  span?: Span;
  /** When the request began (a performance.now() value, not in the future): its span and duration start there. Default now. */
  startTime?: number;
}

export interface RequestTrackerStats {
  active: number;
  started: number;
  completed: number;
  failed: number;
  evicted: number;
  abandoned: number;
  /** Ended because a new request reused their id (ccr.request.replaced). */
  replaced: number;
  /** Still open at shutdown, ended then (ccr.request.incomplete). */
  incomplete: number;
  /** Requests not tracked because the process was overloaded. */
  sampledOut: number;
  /** complete()/fail() on a request already ended: ignored. */
  duplicateEnds: number;
  /** endPhase() of a phase that never started (or already ended): ignored. */
  unmatchedPhaseEnds: number;
}

/** One tracked request. Every method is safe to call in any order and any number of times. */
export interface RequestHandle {
  readonly id: string;
  /** The request's span; a non-recording span when the request was sampled out. */
  readonly span: Span;
  /** `startTime` (a performance.now() value) dates a phase that began before it could be named. */
  startPhase(name: string, attributes?: Attributes, startTime?: number): void;
  endPhase(name: string, attributes?: Attributes): void;
  /** Records a sub-phase's duration (ms) in ccr.request.phase.duration without an event: its figures ride on its phase's event. */
  phaseDuration(name: string, ms: number): void;
  /** Sets attributes on the request's span; a value the span already holds is not set again. */
  setAttributes(attributes: Attributes): void;
  complete(success: boolean, attributes?: Attributes): void;
  fail(error: unknown, attributes?: Attributes): void;
}

function checkPositive(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`RequestTracker: ${name} must be a positive integer, got ${v}`);
  }
}

const NOOP_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Sets on `span` the attributes it does not already hold with the same value (an SDK span shows
 * them as `attributes`; an HTTP server span already has the method, a streamed answer's ccr.streaming
 * may be known from the request body): a repeated fact costs a property read instead of the SDK's
 * checks and copy. Any other span gets them all.
 */
function setNewAttributes(span: Span, attributes: Attributes): void {
  const held = (span as { attributes?: unknown }).attributes;
  if (typeof held !== 'object' || held === null) {
    span.setAttributes(attributes);
    return;
  }
  for (const k in attributes) {
    const v = attributes[k];
    if (v !== (held as Attributes)[k]) span.setAttribute(k, v!);
  }
}
const COMPLETED: Attributes = Object.freeze({ 'ccr.request.outcome': 'completed' });
const FAILED: Attributes = Object.freeze({ 'ccr.request.outcome': 'failed' });

class UntrackedRequest implements RequestHandle {
  readonly span = NOOP_SPAN;
  constructor(readonly id: string) {}
  startPhase(): void {}
  endPhase(): void {}
  phaseDuration(): void {}
  setAttributes(): void {}
  complete(): void {}
  fail(): void {}
}

/** A phase started and not ended yet: its name, when, and its event's attributes so far (a copy of those it started with). */
interface OpenPhase {
  name: string;
  at: number;
  attributes: Attributes;
}

class TrackedRequest implements RequestHandle {
  /** In start order; a request has a few open at once (ingress, upstream, response): a list, not a Map per request. */
  private readonly phases: OpenPhase[] = [];
  ended = false;

  constructor(
    readonly id: string,
    readonly span: Span,
    private readonly owned: boolean,
    private readonly tracker: RequestTracker,
    readonly startedAt: number,
  ) {}

  startPhase(name: string, attributes?: Attributes, startTime?: number): void {
    if (this.ended) return;
    const now = performance.now();
    const a: Attributes = {};
    if (attributes) for (const k in attributes) a[k] = attributes[k];
    const open: OpenPhase = { name, at: startTime !== undefined && startTime <= now ? startTime : now, attributes: a };
    // started again before it ended: the new start replaces the old one, in its place
    const i = this.phaseIndex(name);
    if (i < 0) this.phases.push(open);
    else this.phases[i] = open;
  }

  private phaseIndex(name: string): number {
    const p = this.phases;
    for (let i = 0; i < p.length; i++) if (p[i].name === name) return i;
    return -1;
  }

  endPhase(name: string, attributes?: Attributes): void {
    const i = this.ended ? -1 : this.phaseIndex(name);
    if (i < 0) {
      this.tracker._count('unmatchedPhaseEnds');
      return;
    }
    const open = this.phases[i];
    this.phases.splice(i, 1);
    const ms = performance.now() - open.at;
    this.phaseEvent(name, open, attributes, ms, false);
    this.tracker._phaseDuration(name, ms);
  }

  phaseDuration(name: string, ms: number): void {
    if (!this.ended) this.tracker._phaseDuration(name, ms);
  }

  setAttributes(attributes: Attributes): void {
    setNewAttributes(this.span, attributes);
  }

  /** One `phase` event per phase, dated at its start: its name, duration and the attributes of its start and end. */
  private phaseEvent(name: string, open: OpenPhase, end: Attributes | undefined, ms: number, incomplete: boolean): void {
    const a = open.attributes;
    if (end) for (const k in end) a[k] = end[k];
    a['ccr.phase.name'] = name;
    a['ccr.phase.duration_ms'] = ms;
    if (incomplete) a['ccr.phase.incomplete'] = true;
    this.span.addEvent('phase', a, open.at);
  }

  complete(success: boolean, attributes?: Attributes): void {
    if (!this.tracker._release(this)) return;
    if (attributes) setNewAttributes(this.span, attributes);
    if (!success) this.span.setStatus({ code: SpanStatusCode.ERROR });
    this.finish(success ? 'completed' : 'failed');
  }

  fail(error: unknown, attributes?: Attributes): void {
    if (!this.tracker._release(this)) return;
    if (attributes) this.span.setAttributes(attributes);
    const err = error instanceof Error ? error : new Error(String(error));
    this.span.recordException(err);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    this.finish('failed');
  }

  /** Ends a request the tracker gave up on (eviction, TTL, shutdown). */
  abandon(attribute: string, message: string): void {
    this.span.setAttribute(attribute, true);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    this.finish(undefined);
  }

  private finish(outcome: 'completed' | 'failed' | undefined): void {
    this.ended = true;
    const now = performance.now();
    // phases still open when the request ends are recorded up to its end, marked incomplete
    if (this.phases.length) {
      for (const open of this.phases) this.phaseEvent(open.name, open, undefined, now - open.at, true);
      this.phases.length = 0;
    }
    if (outcome) this.tracker._finished(outcome, now - this.startedAt);
    if (this.owned) this.span.end();
  }
}

/**
 * Tracks requests as spans with one `phase` event per phase (dated at its start; attributes
 * ccr.phase.name, ccr.phase.duration_ms, and ccr.phase.incomplete for a phase still open at the end). Bounded: at most `maxActive` at once (the oldest is evicted), none
 * older than `ttlMs` (a sweep ends them). The sweep timer is unref'd.
 */
export class RequestTracker {
  private readonly tracer: Tracer;
  private maxActive: number;
  private ttlMs: number;
  private readonly spanName: string;
  private readonly loadFn: (() => number) | undefined;
  private readonly overloadThreshold: number;
  private readonly overloadSampleEvery: number;
  /** Insertion order is start order: the first entry is the oldest. */
  private readonly active = new Map<string, TrackedRequest>();
  private readonly counts: Omit<RequestTrackerStats, 'active'> = {
    started: 0,
    completed: 0,
    failed: 0,
    evicted: 0,
    abandoned: 0,
    replaced: 0,
    incomplete: 0,
    sampledOut: 0,
    duplicateEnds: 0,
    unmatchedPhaseEnds: 0,
  };
  private overloadSeen = 0;
  private timer: NodeJS.Timeout;
  private readonly completedDuration: BoundHistogram | undefined;
  private readonly failedDuration: BoundHistogram | undefined;
  private readonly phaseDuration: LocalHistogram | undefined;
  /** The phase histogram's series per phase name (a few). */
  private readonly phaseSeries = new Map<string, BoundHistogram>();

  constructor(options: RequestTrackerOptions) {
    if (!options || !options.tracer) throw new TypeError('RequestTracker: options.tracer is required');
    const o = { ...REQUEST_TRACKER_DEFAULTS };
    for (const k of Object.keys(o) as Array<keyof typeof o>) {
      const v = options[k];
      if (v !== undefined) (o as Record<string, unknown>)[k] = v;
    }
    for (const k of ['maxActive', 'ttlMs', 'sweepIntervalMs', 'overloadSampleEvery'] as const) checkPositive(k, o[k]);
    this.tracer = options.tracer;
    this.maxActive = o.maxActive;
    this.ttlMs = o.ttlMs;
    this.spanName = o.spanName;
    this.loadFn = options.load;
    this.overloadThreshold = o.overloadThreshold;
    this.overloadSampleEvery = o.overloadSampleEvery;
    if (options.histograms) {
      const h = options.histograms;
      const requestDuration = h.histogram('ccr.request.duration', { unit: 'ms', description: 'Duration of tracked requests.' });
      this.completedDuration = requestDuration.bind(COMPLETED);
      this.failedDuration = requestDuration.bind(FAILED);
      this.phaseDuration = h.histogram('ccr.request.phase.duration', { unit: 'ms', description: 'Duration of request phases, by ccr.phase.name.' });
    }
    if (options.meterProvider) {
      const meter = options.meterProvider.getMeter('@ccr/otel-processors');
      meter
        .createObservableUpDownCounter('ccr.request.active', { description: 'Requests being tracked.' })
        .addCallback((r) => r.observe(this.active.size));
    }
    this.timer = setInterval(() => this.sweep(), o.sweepIntervalMs);
    this.timer.unref();
  }

  /**
   * Changes the bounds while running. A lower maxActive evicts the oldest requests at
   * the next trackRequest; a new sweep interval restarts the sweep timer.
   */
  setLimits(limits: { maxActive?: number; ttlMs?: number; sweepIntervalMs?: number }): void {
    for (const [k, v] of Object.entries(limits)) if (v !== undefined) checkPositive(k, v);
    if (limits.maxActive !== undefined) this.maxActive = limits.maxActive;
    if (limits.ttlMs !== undefined) this.ttlMs = limits.ttlMs;
    if (limits.sweepIntervalMs !== undefined) {
      clearInterval(this.timer);
      this.timer = setInterval(() => this.sweep(), limits.sweepIntervalMs);
      this.timer.unref();
    }
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** active / maxActive: a LoadMonitor source. */
  load(): number {
    return this.active.size / this.maxActive;
  }

  stats(): RequestTrackerStats {
    return { active: this.active.size, ...this.counts };
  }

  trackRequest(id: string, attributes?: Attributes, options?: TrackRequestOptions): RequestHandle {
    if (this.loadFn !== undefined && this.loadFn() > this.overloadThreshold) {
      if (this.overloadSeen++ % this.overloadSampleEvery !== 0) {
        this.counts.sampledOut++;
        return new UntrackedRequest(id);
      }
    }
    const previous = this.active.get(id);
    if (previous) {
      this.active.delete(id);
      this.counts.replaced++;
      previous.abandon('ccr.request.replaced', 'a new request reused this id');
    }
    while (this.active.size >= this.maxActive) {
      const [oldestId, oldest] = this.active.entries().next().value as [string, TrackedRequest];
      this.active.delete(oldestId);
      this.counts.evicted++;
      oldest.abandon('ccr.request.evicted', 'evicted: too many active requests');
    }
    const owned = options?.span === undefined;
    const now = performance.now();
    const at = options?.startTime !== undefined && options.startTime <= now ? options.startTime : now;
    const span =
      options?.span ??
      this.tracer.startSpan(
        this.spanName,
        { kind: SpanKind.SERVER, attributes: { 'ccr.request.id': id, ...attributes }, startTime: at === now ? undefined : at },
        options?.parent,
      );
    if (!owned && attributes) setNewAttributes(span, attributes);
    const req = new TrackedRequest(id, span, owned, this, at);
    this.active.set(id, req);
    this.counts.started++;
    return req;
  }

  /** Ends requests older than ttlMs. Runs on the sweep timer; callable in tests. */
  sweep(): void {
    const cutoff = performance.now() - this.ttlMs;
    for (const [id, req] of this.active) {
      if (req.startedAt > cutoff) break; // start order: the rest are younger
      this.active.delete(id);
      this.counts.abandoned++;
      req.abandon('ccr.request.abandoned', `abandoned: no end within ${this.ttlMs} ms`);
    }
  }

  /** Stops the sweep and ends every request still open (ccr.request.incomplete), so its span is exported. */
  shutdown(): void {
    clearInterval(this.timer);
    const open = [...this.active.values()];
    this.active.clear();
    this.counts.incomplete += open.length;
    for (const req of open) req.abandon('ccr.request.incomplete', 'still open at shutdown');
  }

  /** @internal */
  _release(req: TrackedRequest): boolean {
    if (req.ended) {
      this.counts.duplicateEnds++;
      return false;
    }
    if (this.active.get(req.id) === req) this.active.delete(req.id);
    return true;
  }

  /** @internal */
  _finished(outcome: 'completed' | 'failed', ms: number): void {
    this.counts[outcome]++;
    (outcome === 'completed' ? this.completedDuration : this.failedDuration)?.record(ms);
  }

  /** @internal */
  _phaseDuration(name: string, ms: number): void {
    if (!this.phaseDuration) return;
    // one series per phase name (a few), bound once
    let s = this.phaseSeries.get(name);
    if (s === undefined) {
      s = this.phaseDuration.bind({ 'ccr.phase.name': name });
      if (this.phaseSeries.size < 256) this.phaseSeries.set(name, s);
    }
    s.record(ms);
  }

  /** @internal */
  _count(key: 'unmatchedPhaseEnds'): void {
    this.counts[key]++;
  }
}
