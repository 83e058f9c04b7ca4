/**
 * End-to-end 1: the sample gateway (test/fixtures/gateway-app) started with `node -r @ccr/otel-setup`,
 * forwarding to the fake upstream with fetch, exporting to the real ccr-otelcol which forwards traces
 * to a real Jaeger.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findTraceInJaeger, normTraceId, startCollector, startJaeger, type RunningCollector, type RunningJaeger } from '../helpers/collector';
import { postMessages } from '../helpers/ccr';
import { childEnv, node24, OTEL_SETUP_DIR, REPO_ROOT, start, waitFor, waitForOutput, type Started } from '../helpers/process';
import { startFakeUpstream, type FakeUpstream } from '../helpers/upstream';
import { filesContaining, missingPhases, parentSpanId, readLogs, readMetricNames, tag } from './lib';

const SERVICE = 'gateway-app-e2e';
const GATEWAY_KEY = 'sk-gw-e2e-Zq81c0ffee5ecret';
const UPSTREAM_KEY = 'sk-up-e2e-Kp27deadbeefkey';
const SERVER_JS = path.join(REPO_ROOT, 'test', 'fixtures', 'gateway-app', 'server.js');

let jaeger: RunningJaeger | undefined;
let collector: RunningCollector | undefined;
let upstream: FakeUpstream | undefined;
let gateway: Started | undefined;
let gatewayUrl = '';
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-e2e-gateway-'));

function startGateway(extra: Record<string, string>): Started {
  return start(node24(), ['-r', OTEL_SETUP_DIR, SERVER_JS], {
    env: childEnv({
      PORT: '0',
      UPSTREAM_URL: upstream!.url,
      UPSTREAM_API_KEY: UPSTREAM_KEY,
      GATEWAY_API_KEY: GATEWAY_KEY,
      GATEWAY_JSON_STDOUT: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector!.otlpHttpEndpoint,
      OTEL_SERVICE_NAME: SERVICE,
      LOG_LEVEL: 'info',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      CCR_OTEL_CAPTURE_STDOUT: 'true',
      // the adaptive level is unit-tested; here a loaded 2-core CI box must not raise the floor mid-test
      CCR_OTEL_ADAPTIVE: 'false',
      ...extra,
    }),
    outputFile: path.join(outDir, `gateway-app-${Date.now()}.out`),
  });
}

/** Emit n records inside the gateway, SIGTERM it at once, and return the exit and the seqs that reached the file. */
async function emitThenSigterm(gw: Started, url: string, n: number) {
  const run = `sigterm-${gw.pid}-${Date.now()}`;
  const res = await fetch(`${url}/__emit?n=${n}&run=${run}`, { method: 'POST' });
  expect(await res.json()).toMatchObject({ emitted: n, logger: true });
  const t0 = Date.now();
  const exit = await gw.stop('SIGTERM', 20000);
  const exitMs = Date.now() - t0;
  const seqs = await waitFor(
    `all ${n} records of ${run} in the log file`,
    () => {
      const s = new Set(readLogs(collector!.dataDir).filter((r) => r.attrs['test.run'] === run).map((r) => r.attrs['test.seq']));
      return s.size >= n ? s : undefined;
    },
    { timeoutMs: 30000, intervalMs: 500 },
  ).catch((e) => {
    const got = new Set(readLogs(collector!.dataDir).filter((r) => r.attrs['test.run'] === run).map((r) => r.attrs['test.seq']));
    throw new Error(`${(e as Error).message}; got ${got.size} of ${n}\n${gw.output().slice(-3000)}`);
  });
  return { exit, exitMs, seqs };
}

beforeAll(async () => {
  jaeger = await startJaeger();
  collector = await startCollector({ jaegerOtlpEndpoint: jaeger.otlpGrpcEndpoint });
  upstream = await startFakeUpstream();
  gateway = startGateway({});
  gatewayUrl = (await waitForOutput(gateway, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 30000))[1];
}, 120000);

afterAll(async () => {
  await gateway?.stop('SIGKILL', 1000).catch(() => undefined);
  await upstream?.close().catch(() => undefined);
  await collector?.stop().catch(() => undefined);
  await jaeger?.stop().catch(() => undefined);
  fs.rmSync(outDir, { recursive: true, force: true });
}, 60000);

describe('sample gateway under node -r @ccr/otel-setup', () => {
  const results: { stream: boolean; status: number; text: string }[] = [];

  test('forwards plain and streaming requests to the fake upstream', async () => {
    for (const stream of [false, true]) {
      const r = await postMessages(gatewayUrl, GATEWAY_KEY, { model: 'fake-model', max_tokens: 32, stream, messages: [{ role: 'user', content: 'hi' }] });
      results.push({ stream, ...r });
      expect(r.status).toBe(200);
      expect(r.text).toContain(stream ? 'content_block_delta' : 'Hello from the fake upstream.');
    }
    expect(upstream!.requests.filter((q) => q.url === '/v1/messages')).toHaveLength(2);
    expect(upstream!.requests[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  });

  test("its log records arrive in the collector's log file, with trace context", async () => {
    const logs = await waitFor(
      'two "request completed" records from the gateway',
      () => {
        const l = readLogs(collector!.dataDir).filter((r) => r.service === SERVICE);
        return l.filter((r) => r.body === 'request completed' && r.scope === 'gateway-app').length >= 2 ? l : undefined;
      },
      { timeoutMs: 30000, intervalMs: 250 },
    );
    const completed = logs.filter((r) => r.body === 'request completed' && r.scope === 'gateway-app');
    for (const r of completed) {
      expect(r.severityText).toBe('INFO');
      expect(r.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(r.traceId).not.toBe('0'.repeat(32));
      expect(r.attrs['http.response.status_code']).toBe(200);
      expect(r.pid).toBe(gateway!.pid);
    }
    expect(new Set(completed.map((r) => r.attrs['gateway.stream']))).toEqual(new Set([true, false]));
    // pino-style JSON lines the app wrote to stdout were captured as records too
    const captured = logs.filter((r) => r.scope === 'stdout' && r.body === 'request completed');
    expect(captured.length).toBeGreaterThanOrEqual(2);
    expect(captured[0].severityText).toBe('INFO');

    // spans have their own batch delay: poll the processors' counts until both have exported
    const stats: any = await waitFor(
      'logs and spans exported by the gateway',
      async () => {
        const st: any = await (await fetch(`${gatewayUrl}/__ccr_otel/stats`)).json();
        return st.logs.exported > 0 && st.spans.exported > 0 ? st : undefined;
      },
      { timeoutMs: 30000, intervalMs: 250 },
    );
    expect(stats.logs.exported).toBeGreaterThan(0);
    expect(stats.spans.exported).toBeGreaterThan(0);
  });

  test('its traces (server span, client span, phase events) are found through Jaeger', async () => {
    const logs = readLogs(collector!.dataDir).filter((r) => r.service === SERVICE && r.body === 'request completed' && r.scope === 'gateway-app');
    for (const stream of [false, true]) {
      const isServer = (s: any) => tag(s, 'span.kind') === 'server' && tag(s, 'http.route') === '/v1/messages' && tag(s, 'ccr.streaming') === stream;
      const t = await findTraceInJaeger(jaeger!.queryUrl, SERVICE, {
        timeoutMs: 30000,
        predicate: (tr) => tr.spans.some((s: any) => isServer(s) && missingPhases(s).length === 0) && tr.spans.some((s: any) => tag(s, 'span.kind') === 'client'),
      });
      const server = t.spans.find(isServer);
      const client = t.spans.find((s: any) => tag(s, 'span.kind') === 'client');
      expect(missingPhases(server)).toEqual([]);
      expect(tag(server, 'http.response.status_code')).toBe(200);
      expect(tag(server, 'gen_ai.request.model')).toBe('fake-model');
      expect(String(tag(client, 'url.full'))).toBe(`${upstream!.url}/v1/messages`);
      expect(tag(client, 'http.request.method')).toBe('POST');
      expect(parentSpanId(client)).toBe(server.spanID);
      // the log record written while serving this request carries this trace's id
      const log = logs.find((r) => r.attrs['gateway.stream'] === stream);
      expect(log && normTraceId(log.traceId)).toBe(normTraceId(t.traceID));
    }
  });

  test('its metrics arrive in the metrics file', async () => {
    const names = await waitFor(
      'HTTP server and runtime metrics of the gateway',
      () => {
        const n = readMetricNames(collector!.dataDir).get(SERVICE);
        return n && n.has('http.server.request.duration') && [...n].some((x) => /^(nodejs|v8js)\./.test(x)) ? n : undefined;
      },
      { timeoutMs: 30000, intervalMs: 500 },
    );
    expect(names.has('http.client.request.duration')).toBe(true);
  });

  test('the API keys appear in no file the collector wrote', () => {
    expect(filesContaining(collector!.dataDir, [GATEWAY_KEY, UPSTREAM_KEY])).toEqual([]);
  });

  test('SIGTERM loses nothing that was emitted before it (the app has its own SIGTERM handler)', async () => {
    const n = 3000; // more than the SDK's default queue of 2048
    const { exit, exitMs, seqs } = await emitThenSigterm(gateway!, gatewayUrl, n);
    // the app's own handler closes its server, so the process ends normally after the flush
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(10000);
    expect(seqs.size).toBe(n);
  });

  test('SIGTERM loses nothing either when the app has no handler, and the process still ends by the signal', async () => {
    const gw = startGateway({ GATEWAY_NO_SIGNAL_HANDLER: 'true' });
    try {
      const url = (await waitForOutput(gw, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 30000))[1];
      const n = 3000;
      const { exit, exitMs, seqs } = await emitThenSigterm(gw, url, n);
      expect(exit.signal === 'SIGTERM' || exit.code === 143).toBe(true);
      expect(exitMs).toBeLessThan(10000);
      expect(seqs.size).toBe(n);
    } finally {
      await gw.stop('SIGKILL', 1000);
    }
  });
});
