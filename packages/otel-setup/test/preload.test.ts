import * as path from 'node:path';
import { attr, childEnv, runChild, startSink } from './helpers';
import type { Sink } from './helpers';

const fixture = (n: string) => path.join(__dirname, 'fixtures', n);
jest.setTimeout(30000);

describe('preload in a child process', () => {
  let sink: Sink;
  beforeEach(async () => {
    sink = await startSink();
  });
  afterEach(async () => {
    await sink.close();
  });

  test('node -r @ccr/otel-setup: a short-lived app exports a log and a span and exits promptly', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], childEnv(sink));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.ms).toBeLessThan(4000);
    const logs = sink.logs();
    const log = logs.find((l) => l.body?.stringValue === 'short app says hello');
    expect(log).toBeDefined();
    expect(log.severityNumber).toBe(13);
    expect(attr(log.attributes, 'answer')).toBe(42);
    const span = sink.spans().find((s) => s.name === 'short-work');
    expect(span).toBeDefined();
    expect(log.traceId).toBe(span.traceId);
    expect(attr(span.resource.attributes, 'service.name')).toBe('short');
    expect(attr(span.resource.attributes, 'service.instance.id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(attr(span.resource.attributes, 'process.pid')).toBeGreaterThan(0);
  });

  test('the preload loads as one bundle, and @ccr/otel-setup/api is that same instance', async () => {
    const probe =
      "process.stdout.write(JSON.stringify({ files: Object.keys(require.cache), same: require('@ccr/otel-setup/api').getConfig === require('@ccr/otel-setup').getConfig }))";
    const r = await runChild(['-r', '@ccr/otel-setup', '-e', probe], childEnv(sink));
    expect(r.code).toBe(0);
    const { files, same } = JSON.parse(r.stdout) as { files: string[]; same: boolean };
    expect(same).toBe(true);
    const ours = files.filter((f) => f.includes(`${path.sep}otel-setup${path.sep}`) || f.includes(`${path.sep}processors${path.sep}`));
    expect(ours.map((f) => path.basename(path.dirname(f)) + '/' + path.basename(f)).sort()).toEqual(['bundle/index.js', 'bundle/preload.js']);
    // no OpenTelemetry package loads as modules of its own; import-in-the-middle stays out of the bundle (register.mjs)
    expect(files.filter((f) => f.includes('@opentelemetry'))).toEqual([]);
    expect(files.length).toBeLessThan(10);
  });

  test('node --import @ccr/otel-setup/register works for an ESM app', async () => {
    const r = await runChild(['--import', '@ccr/otel-setup/register', fixture('short.mjs')], childEnv(sink));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sink.logs().some((l) => l.body?.stringValue === 'esm says hello')).toBe(true);
    expect(sink.spans().some((s) => s.name === 'esm-work')).toBe(true);
  });

  test('node --import @ccr/otel-setup/register: pino imported by an ESM app is instrumented (import-in-the-middle hook)', async () => {
    const r = await runChild(['--import', '@ccr/otel-setup/register', fixture('esm-pino.mjs')], childEnv(sink));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the pino bridge injected the trace context into the line…
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
    // …and sent it as a log record with that trace id
    await sink.waitFor(() => sink.logs().some((l) => l.body?.stringValue === 'esm pino says hello'), 5000);
    const rec = sink.logs().find((l) => l.body?.stringValue === 'esm pino says hello');
    expect(rec).toBeDefined();
    expect(rec.traceId).toBe(line.trace_id);
    expect(sink.spans().find((s) => s.name === 'esm-pino-work')?.traceId).toBe(line.trace_id);
  });

  test('OTEL_TRACES_EXPORTER=otlp,console: spans go to both; OTEL_RESOURCE_ATTRIBUTES wins over built-in values', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], childEnv(sink, { OTEL_TRACES_EXPORTER: 'otlp,console', OTEL_RESOURCE_ATTRIBUTES: 'host.name=from-env,process.runtime.name=custom' }));
    expect(r.code).toBe(0);
    // the console exporter printed the span; the OTLP exporter sent the same one
    const traceId = /traceId: '([0-9a-f]{32})'/.exec(r.stdout)?.[1];
    expect(traceId).toBeDefined();
    const span = sink.spans().find((s) => s.name === 'short-work' && s.traceId === traceId);
    expect(span).toBeDefined();
    const res = span.resource.attributes;
    expect(attr(res, 'host.name')).toBe('from-env');
    expect(attr(res, 'process.runtime.name')).toBe('custom');
    expect(attr(res, 'telemetry.sdk.language')).toBe('nodejs');
    expect(attr(res, 'process.pid')).toBeGreaterThan(0);
  });

  test('OTEL_SDK_DISABLED=true: nothing is exported, the app runs', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], childEnv(sink, { OTEL_SDK_DISABLED: 'true' }));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('done\n');
    await new Promise((res) => setTimeout(res, 200));
    expect(sink.bodies).toHaveLength(0);
  });

  // the OTLP exporter loads node:https; the disabled fast path never gets that far (the preload is one
  // bundle: its parts are not separate modules to look for)
  const EXPORTER_LOADED = "process.stdout.write(String(process.moduleLoadList.includes('NativeModule https')))";

  test.each(['TRUE', ' true '])('OTEL_SDK_DISABLED=%j takes the fast path too', async (v) => {
    const r = await runChild(['-r', '@ccr/otel-setup', '-e', EXPORTER_LOADED], childEnv(sink, { OTEL_SDK_DISABLED: v }));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('false');
    expect(sink.bodies).toHaveLength(0);
  });

  test('OTEL_SDK_DISABLED=1 does not disable (only true does, as in the SDK): a warning, telemetry on', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', '-e', EXPORTER_LOADED], childEnv(sink, { OTEL_SDK_DISABLED: '1' }));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('true');
    expect(r.stderr).toMatch(/OTEL_SDK_DISABLED="1" is not true or false; telemetry stays on/);
  });

  test('test profile exports nothing unless asked', async () => {
    const env = childEnv(sink, { NODE_ENV: 'test' });
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
    env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = undefined;
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], env);
    expect(r.code).toBe(0);
    expect(sink.bodies).toHaveLength(0);
  });

  test('SIGTERM: records emitted before it are flushed, then the process ends with 143', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('sigterm.js')], childEnv(sink, { OTEL_BLRP_SCHEDULE_DELAY: '60000' }), {
      onStdout: (out, kill) => {
        if (out.includes('ready')) kill('SIGTERM');
      },
    });
    expect(r.signal === 'SIGTERM' || r.code === 143).toBe(true);
    expect(r.ms).toBeLessThan(8000);
    const bodies = sink.logs().map((l) => l.body?.stringValue);
    for (let i = 0; i < 50; i++) expect(bodies).toContain(`record ${i}`);
  });

  test('request tracking: phases from diagnostics channels, model and streaming; no secret is exported', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('gateway.js')], childEnv(sink, { OTEL_METRIC_EXPORT_INTERVAL: '100' }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('requests done');
    const spans = sink.spans();
    const servers = spans.filter((s) => s.kind === 2 && attr(s.attributes, 'ccr.upstream.count') !== undefined);
    // the two gateway requests (the upstream server's own spans have no upstream)
    const gw = servers.filter((s) => attr(s.attributes, 'ccr.upstream.count') === 1);
    expect(gw).toHaveLength(2);
    for (const s of gw) {
      const phases = s.events.map((e: any) => `${e.name}:${attr(e.attributes, 'ccr.phase.name')}`);
      expect(phases).toEqual(expect.arrayContaining(['phase:ingress', 'phase:upstream', 'phase:response']));
      // the upstream's time to its response headers rides on its phase's event
      const up = s.events.find((e: any) => attr(e.attributes, 'ccr.phase.name') === 'upstream');
      expect(attr(up.attributes, 'ccr.phase.ttfb_ms')).toBeGreaterThan(0);
      expect(attr(s.attributes, 'gen_ai.request.model')).toBe('claude-test-model');
      expect(attr(s.attributes, 'http.route')).toBe('/v1/messages');
      expect(attr(s.attributes, 'http.response.status_code')).toBe(200);
      expect(JSON.stringify(attr(s.attributes, 'ccr.upstream.hosts'))).toContain('127.0.0.1');
      // the undici client span is a child in the same trace
      const client = spans.find((c) => c.kind === 3 && c.traceId === s.traceId && c.parentSpanId === s.spanId);
      expect(client).toBeDefined();
    }
    expect(gw.map((s) => attr(s.attributes, 'ccr.streaming')).sort()).toEqual([false, true]);
    // secrets: nothing the sink received holds a key, a token or a cookie
    const all = sink.bodies.map((b) => b.text).join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const secret of ['sk-ccr-secret-1234', 'sk-provider-secret-5678', 'sk-upstream-url-secret-9876', 'sk-client-url-secret-1111', 'cookie-secret-42']) {
      expect(all).not.toContain(secret);
    }
  });

  test('request tracking never removes wrappers installed after its own (res.write/end, req.emit)', async () => {
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('wrapped-response.js')], childEnv(sink));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['[wrapped]a[wrapped]b[wrapped]c5', '[wrapped]a[wrapped]b[wrapped]c6']);
    await sink.waitFor(() => sink.spans().filter((s) => s.kind === 2).length >= 2, 3000);
    const servers = sink.spans().filter((s) => s.kind === 2);
    const sizes = servers.map((s) => {
      const ev = s.events.find((e: any) => e.name === 'phase' && attr(e.attributes, 'ccr.phase.name') === 'ingress');
      return attr(ev?.attributes, 'http.request.body.size');
    });
    expect(sizes.sort()).toEqual([5, 6]);
  });
});
