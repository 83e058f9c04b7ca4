import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { LocalHistograms, RequestTracker } from '../src';
import { metricPoints, TestMetricReader } from './helpers';

function setup(opts: Partial<ConstructorParameters<typeof RequestTracker>[0]> = {}) {
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t');
  const histograms = new LocalHistograms({ name: 't' });
  const reader = new TestMetricReader({ metricProducers: [histograms.producer()] });
  const tracker = new RequestTracker({ tracer, meterProvider: new MeterProvider({ readers: [reader] }), histograms, ...opts });
  return { exporter, tracker, reader };
}

describe('RequestTracker', () => {
  afterEach(() => jest.useRealTimers());

  it('makes one span per request with one phase event per phase (start and end attributes, duration)', async () => {
    const { exporter, tracker, reader } = setup();
    const req = tracker.trackRequest('r1', { 'http.route': '/v1/messages' });
    req.startPhase('upstream', { 'server.address': 'api.example' });
    req.endPhase('upstream', { 'http.response.status_code': 200 });
    req.complete(true, { 'http.response.status_code': 200 });
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('ccr.request');
    expect(span.attributes).toMatchObject({ 'ccr.request.id': 'r1', 'http.route': '/v1/messages', 'http.response.status_code': 200 });
    expect(span.events.map((e) => [e.name, e.attributes?.['ccr.phase.name']])).toEqual([['phase', 'upstream']]);
    expect(span.events[0].attributes).toMatchObject({ 'server.address': 'api.example', 'http.response.status_code': 200 });
    expect(typeof span.events[0].attributes?.['ccr.phase.duration_ms']).toBe('number');
    expect(span.events[0].attributes?.['ccr.phase.incomplete']).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(tracker.activeCount).toBe(0);
    const phase = await metricPoints(reader, 'ccr.request.phase.duration');
    expect(phase[0].attributes['ccr.phase.name']).toBe('upstream');
    expect(await metricPoints(reader, 'ccr.request.duration')).toHaveLength(1);
  });

  it("a phase's start attributes are copied when it starts: the caller's object is neither kept nor changed", () => {
    const { exporter, tracker } = setup();
    const req = tracker.trackRequest('r1');
    const start = { 'server.address': 'api.example' };
    const end = { 'http.response.status_code': 200 };
    req.startPhase('upstream', start);
    start['server.address'] = 'changed later';
    req.endPhase('upstream', end);
    req.startPhase('response', start);
    req.complete(true);
    expect(start).toEqual({ 'server.address': 'changed later' });
    expect(end).toEqual({ 'http.response.status_code': 200 });
    const [span] = exporter.getFinishedSpans();
    expect(span.events[0].attributes).toMatchObject({ 'server.address': 'api.example', 'http.response.status_code': 200, 'ccr.phase.name': 'upstream' });
    expect(span.events[1].attributes).toMatchObject({ 'server.address': 'changed later', 'ccr.phase.name': 'response', 'ccr.phase.incomplete': true });
    expect(span.events[1].attributes?.['http.response.status_code']).toBeUndefined();
  });

  it('setAttributes, complete and tracking on an existing span set only what the span does not already hold', () => {
    const { exporter, tracker } = setup();
    const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t');
    const server = tracer.startSpan('server', { attributes: { 'http.request.method': 'POST' } });
    const set = jest.spyOn(server, 'setAttribute');
    const req = tracker.trackRequest('r1', { 'http.request.method': 'POST', 'http.route': '/v1' }, { span: server });
    expect(set.mock.calls.map((c) => c[0])).toEqual(['http.route']);
    set.mockClear();
    const hosts = ['a:1'];
    req.setAttributes({ 'ccr.streaming': true, 'gen_ai.request.model': 'm' });
    req.setAttributes({ 'ccr.streaming': true, 'gen_ai.request.model': 'm2', 'ccr.upstream.hosts': hosts });
    req.complete(true, { 'gen_ai.request.model': 'm2', 'ccr.upstream.hosts': ['a:1'], 'http.response.status_code': 200 });
    expect(set.mock.calls.map((c) => c[0])).toEqual([
      'ccr.streaming',
      'gen_ai.request.model',
      'gen_ai.request.model',
      'ccr.upstream.hosts',
      'ccr.upstream.hosts', // an array is compared by identity: the SDK copied the first one
      'http.response.status_code',
    ]);
    server.end();
    const [span] = exporter.getFinishedSpans();
    expect(span.attributes).toEqual({
      'http.request.method': 'POST',
      'http.route': '/v1',
      'ccr.streaming': true,
      'gen_ai.request.model': 'm2',
      'ccr.upstream.hosts': ['a:1'],
      'http.response.status_code': 200,
    });
  });

  it('phaseDuration records a sub-phase in ccr.request.phase.duration without an event of its own', async () => {
    const { exporter, tracker, reader } = setup();
    const req = tracker.trackRequest('r1');
    req.startPhase('upstream');
    req.phaseDuration('upstream.ttfb', 7);
    req.endPhase('upstream', { 'ccr.phase.ttfb_ms': 7 });
    req.complete(true);
    req.phaseDuration('late', 1); // after the end: ignored
    const [span] = exporter.getFinishedSpans();
    expect(span.events.map((e) => e.attributes?.['ccr.phase.name'])).toEqual(['upstream']);
    const points = await metricPoints(reader, 'ccr.request.phase.duration');
    const ttfb = points.find((p) => p.attributes['ccr.phase.name'] === 'upstream.ttfb');
    expect(ttfb?.value).toMatchObject({ count: 1, sum: 7 });
    expect(points.map((p) => p.attributes['ccr.phase.name']).sort()).toEqual(['upstream', 'upstream.ttfb']);
  });

  it('startPhase(name, attrs, startTime) dates a phase that began earlier (its event and its duration)', () => {
    const { exporter, tracker } = setup();
    const req = tracker.trackRequest('r1');
    const began = performance.now() - 50;
    req.startPhase('upstream.first_token', undefined, began);
    req.endPhase('upstream.first_token');
    // a start time in the future is not believed: the phase starts now
    req.startPhase('later', undefined, performance.now() + 60000);
    req.endPhase('later');
    req.complete(true);
    const [span] = exporter.getFinishedSpans();
    const [first, later] = span.events;
    expect(first.attributes?.['ccr.phase.duration_ms']).toBeGreaterThanOrEqual(50);
    const ns = (t: [number, number]) => t[0] * 1e9 + t[1];
    // the event is dated at the phase's start
    expect((ns(later.time) - ns(first.time)) / 1e6).toBeGreaterThanOrEqual(49);
    expect(later.attributes?.['ccr.phase.duration_ms']).toBeLessThan(50);
  });

  it('trackRequest(…, { startTime }) dates the span and the duration from the request\'s start', async () => {
    const { exporter, tracker, reader } = setup();
    const began = performance.now() - 40;
    tracker.trackRequest('r1', undefined, { startTime: began }).complete(true);
    const [span] = exporter.getFinishedSpans();
    const ms = (span.endTime[0] - span.startTime[0]) * 1e3 + (span.endTime[1] - span.startTime[1]) / 1e6;
    expect(ms).toBeGreaterThanOrEqual(39);
    const [point] = await metricPoints(reader, 'ccr.request.duration');
    expect((point.value as { sum: number }).sum).toBeGreaterThanOrEqual(39);
  });

  it('a phase still open at the end is recorded up to the end, marked incomplete', () => {
    const { exporter, tracker } = setup();
    const req = tracker.trackRequest('r1');
    req.startPhase('response', { 'http.response.status_code': 200 });
    req.complete(true);
    const [span] = exporter.getFinishedSpans();
    expect(span.events).toHaveLength(1);
    expect(span.events[0].name).toBe('phase');
    expect(span.events[0].attributes).toMatchObject({ 'ccr.phase.name': 'response', 'ccr.phase.incomplete': true, 'http.response.status_code': 200 });
    expect(typeof span.events[0].attributes?.['ccr.phase.duration_ms']).toBe('number');
  });

  it('a phase started again before it ended replaces its start in place; phases still open end in start order', () => {
    const { exporter, tracker } = setup();
    const req = tracker.trackRequest('r1');
    req.startPhase('a', { n: 1 });
    req.startPhase('b');
    req.startPhase('c');
    req.startPhase('a', { n: 2 });
    req.endPhase('b');
    req.endPhase('b'); // already ended: counted, no event
    req.complete(true);
    const [span] = exporter.getFinishedSpans();
    expect(span.events.map((e) => [e.attributes?.['ccr.phase.name'], e.attributes?.n, e.attributes?.['ccr.phase.incomplete']])).toEqual([
      ['b', undefined, undefined],
      ['a', 2, true],
      ['c', undefined, true],
    ]);
    expect(tracker.stats().unmatchedPhaseEnds).toBe(1);
  });

  it('fail() records the exception and ERROR status', () => {
    const { exporter, tracker } = setup();
    tracker.trackRequest('r').fail(new Error('upstream 502'));
    const [span] = exporter.getFinishedSpans();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'upstream 502' });
    expect(span.events.some((e) => e.name === 'exception')).toBe(true);
    expect(tracker.stats().failed).toBe(1);
  });

  it('ending twice, or ending a phase that never started, is harmless and counted', () => {
    const { exporter, tracker } = setup();
    const req = tracker.trackRequest('r');
    req.endPhase('never');
    req.complete(true);
    req.complete(false);
    req.fail('again');
    req.endPhase('late');
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(tracker.stats()).toMatchObject({ completed: 1, failed: 0, duplicateEnds: 2, unmatchedPhaseEnds: 2 });
  });

  it('evicts the oldest active request beyond maxActive, ending it with ERROR and ccr.request.evicted', () => {
    const { exporter, tracker } = setup({ maxActive: 3 });
    const reqs = ['a', 'b', 'c', 'd', 'e'].map((id) => tracker.trackRequest(id));
    expect(tracker.activeCount).toBe(3);
    const ended = exporter.getFinishedSpans();
    expect(ended.map((s) => s.attributes['ccr.request.id'])).toEqual(['a', 'b']);
    expect(ended[0].attributes['ccr.request.evicted']).toBe(true);
    expect(ended[0].status.code).toBe(SpanStatusCode.ERROR);
    reqs[0].complete(true); // late end of an evicted request: ignored, counted
    expect(tracker.stats()).toMatchObject({ evicted: 2, duplicateEnds: 1, active: 3 });
    expect(tracker.load()).toBe(1);
  });

  it('the sweep ends requests older than ttlMs with ccr.request.abandoned (fake clock)', () => {
    jest.useFakeTimers();
    const { exporter, tracker } = setup({ ttlMs: 10_000, sweepIntervalMs: 1000 });
    tracker.trackRequest('old');
    jest.advanceTimersByTime(6000);
    tracker.trackRequest('young');
    jest.advanceTimersByTime(4500);
    const ended = exporter.getFinishedSpans();
    expect(ended.map((s) => s.attributes['ccr.request.id'])).toEqual(['old']);
    expect(ended[0].attributes['ccr.request.abandoned']).toBe(true);
    jest.advanceTimersByTime(6000);
    expect(exporter.getFinishedSpans()).toHaveLength(2);
    expect(tracker.stats()).toMatchObject({ abandoned: 2, active: 0 });
    tracker.shutdown();
  });

  it('under load > 0.8 tracks only a sample of new requests, and counts the rest', () => {
    let load = 0.9;
    const { exporter, tracker } = setup({ load: () => load, overloadSampleEvery: 10 });
    for (let i = 0; i < 100; i++) tracker.trackRequest(`r${i}`).complete(true);
    expect(exporter.getFinishedSpans()).toHaveLength(10);
    expect(tracker.stats()).toMatchObject({ sampledOut: 90, completed: 10 });
    load = 0.2;
    tracker.trackRequest('calm').complete(true);
    expect(exporter.getFinishedSpans()).toHaveLength(11);
  });

  it('can track on an existing span without ending it', () => {
    const { exporter, tracker } = setup();
    const tracer = new TracerProvider().getTracer('x');
    const own = tracer.startSpan('http');
    const req = tracker.trackRequest('r', { a: 1 }, { span: own });
    req.startPhase('ingress');
    req.complete(true);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    expect(req.span).toBe(own);
  });

  it('shutdown ends open requests so their spans are exported', () => {
    const { exporter, tracker } = setup();
    tracker.trackRequest('open');
    tracker.shutdown();
    expect(exporter.getFinishedSpans()[0].attributes['ccr.request.incomplete']).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => setup({ maxActive: 0 })).toThrow(/maxActive must be a positive integer/);
  });
});

describe('RequestTracker.setLimits', () => {
  it('applies a lower maxActive at the next request and validates', () => {
    const { exporter, tracker } = setup({ maxActive: 10 });
    for (let i = 0; i < 5; i++) tracker.trackRequest(`r${i}`);
    tracker.setLimits({ maxActive: 2 });
    tracker.trackRequest('new');
    expect(tracker.activeCount).toBe(2);
    expect(exporter.getFinishedSpans()).toHaveLength(4);
    expect(() => tracker.setLimits({ ttlMs: 0 })).toThrow(/ttlMs must be a positive integer/);
    tracker.shutdown();
  });
});

describe('RequestTracker accounting', () => {
  it('a reused id and requests open at shutdown end in a count: started = ended + active at all times', () => {
    const { exporter, tracker } = setup();
    tracker.trackRequest('a');
    tracker.trackRequest('a'); // replaces the first
    tracker.trackRequest('b').complete(true);
    tracker.trackRequest('c');
    let s = tracker.stats();
    expect(s.replaced).toBe(1);
    const ended = (x: typeof s) => x.completed + x.failed + x.evicted + x.abandoned + x.replaced + x.incomplete;
    expect(ended(s) + s.active).toBe(s.started);
    tracker.shutdown();
    s = tracker.stats();
    expect(s.incomplete).toBe(2);
    expect(s.active).toBe(0);
    expect(ended(s)).toBe(s.started);
    expect(exporter.getFinishedSpans()).toHaveLength(4);
  });
});
