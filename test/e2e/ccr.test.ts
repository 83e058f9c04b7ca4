/**
 * End-to-end 2: the real Claude Code Router 3.1.1 from the npm registry (installed into a cache by
 * test/fixtures/ccr/install.sh), run as `cli.js serve --no-open` with a temporary HOME and
 * NODE_OPTIONS="--require <packages/otel-setup>", routing to a fake OpenAI-compatible upstream.
 */
import * as fs from 'node:fs';
import { findTracesInJaeger, normTraceId, readJsonLines, signalFiles, startCollector, startJaeger, type RunningCollector, type RunningJaeger } from '../helpers/collector';
import { ccrEnv, ccrServicePid, findDescendant, installCcr, postMessages, prepareCcrHome, runCcrCli, startCcr, type RunningCcr } from '../helpers/ccr';
import { isListening } from '../helpers/ports';
import { attrValue } from '../helpers/otlp-json';
import { alive, waitFor } from '../helpers/process';
import { startFakeUpstream, type FakeUpstream } from '../helpers/upstream';
import { filesContaining, missingPhases, parentSpanId, processTag, readLogs, tag } from './lib';

const SERVICE = 'claude-code-router-e2e';
const CCR_KEY = 'sk-ccr-e2e-Hq4mZ8client0key';
const PROVIDER_KEY = 'sk-prov-e2e-Wt7nX2upstream0key';
const MODEL = 'fake-model';

let jaeger: RunningJaeger | undefined;
let collector: RunningCollector | undefined;
let upstream: FakeUpstream | undefined;
let ccr: RunningCcr | undefined;
let pkg = '';
const detached: number[] = []; // PIDs the `ccr start` test left running, if it failed before `ccr stop`
const homes: string[] = []; // temporary HOMEs, removed at the end

beforeAll(async () => {
  pkg = installCcr(); // instant when cached; about 90 s the first time (better-sqlite3 is compiled)
  jaeger = await startJaeger();
  collector = await startCollector({ jaegerOtlpEndpoint: jaeger.otlpGrpcEndpoint });
  upstream = await startFakeUpstream();
  ccr = await startCcr(pkg, {
    upstreamUrl: upstream.url,
    apiKey: CCR_KEY,
    providerKey: PROVIDER_KEY,
    model: MODEL,
    otlpEndpoint: collector.otlpHttpEndpoint,
    serviceName: SERVICE,
    // the adaptive level is unit-tested; CCR's start-up load on a 2-core box must not raise the floor mid-test
    env: { CCR_OTEL_ADAPTIVE: 'false' },
  });
}, 900000);

afterAll(async () => {
  await ccr?.stop().catch(() => undefined);
  for (const pid of detached) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await upstream?.close().catch(() => undefined);
  await collector?.stop().catch(() => undefined);
  await jaeger?.stop().catch(() => undefined);
  if (ccr) homes.push(ccr.home);
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
}, 60000);

describe('Claude Code Router 3.1.1 under NODE_OPTIONS="--require @ccr/otel-setup"', () => {
  test('routes a plain and a streaming POST /v1/messages to the fake upstream', async () => {
    const plain = await postMessages(ccr!.gatewayUrl, CCR_KEY, { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.text).content[0].text).toBe('Hello from the fake upstream.');

    const streamed = await postMessages(ccr!.gatewayUrl, CCR_KEY, { model: MODEL, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }] });
    expect(streamed.status).toBe(200);
    expect(streamed.contentType).toContain('text/event-stream');
    expect(streamed.text).toContain('content_block_delta');
    expect(streamed.text).toContain('message_stop');

    const calls = upstream!.requests.filter((r) => r.url === '/v1/chat/completions');
    expect(calls).toHaveLength(2);
    expect(calls.map((c) => !!c.body.stream)).toEqual([false, true]);
    expect(calls[0].headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);

    const denied = await postMessages(ccr!.gatewayUrl, 'sk-wrong', { model: MODEL, messages: [{ role: 'user', content: 'x' }] });
    expect(denied.status).toBe(401);
  });

  let traceIds: string[] = [];

  test('Jaeger has a trace per request from the gateway process: server span, undici client span, phase events', async () => {
    const gwPid = ccr!.gatewayPid;
    const serverOf = (t: any, stream: boolean) =>
      t.spans.find(
        (s: any) =>
          tag(s, 'span.kind') === 'server' &&
          tag(s, 'http.route') === '/v1/messages' &&
          (tag(s, 'ccr.streaming') ?? false) === stream && // absent when the body does not say "stream"

          tag(s, 'http.response.status_code') === 200 &&
          processTag(t, s, 'process.pid') === gwPid,
      );
    const upstreamCall = (t: any) =>
      t.spans.find((s: any) => tag(s, 'span.kind') === 'client' && tag(s, 'url.full') === `${upstream!.url}/v1/chat/completions`);
    const complete = (t: any, stream: boolean) => {
      const s = serverOf(t, stream);
      return !!s && missingPhases(s).length === 0 && !!upstreamCall(t);
    };
    const traces = await findTracesInJaeger(jaeger!.queryUrl, SERVICE, {
      timeoutMs: 45000,
      until: (ts) => ts.some((t) => complete(t, false)) && ts.some((t) => complete(t, true)),
    }).catch(async (e) => {
      const ts = await findTracesInJaeger(jaeger!.queryUrl, SERVICE, { timeoutMs: 1000 }).catch(() => []);
      const summary = ts.map((t: any) =>
        t.spans.map((s: any) => [processTag(t, s, 'process.pid'), tag(s, 'span.kind'), tag(s, 'http.route') ?? tag(s, 'url.full'), tag(s, 'ccr.streaming'), missingPhases(s).length]),
      );
      throw new Error(`${(e as Error).message}\ngateway pid ${gwPid}; traces: ${JSON.stringify(summary)}\nCCR output:\n${ccr!.output().slice(-2000)}`);
    });
    for (const stream of [false, true]) {
      const t = traces.find((x) => complete(x, stream));
      const server = serverOf(t, stream);
      const client = upstreamCall(t);
      expect(missingPhases(server)).toEqual([]);
      expect(tag(server, 'gen_ai.request.model')).toBe(MODEL);
      // the provider call CCR made for it: the fake upstream reports prompt 12, completion 6
      expect(tag(server, 'gen_ai.provider.name')).toBe('openai');
      expect(tag(server, 'gen_ai.response.model')).toBe(MODEL);
      expect(tag(server, 'gen_ai.usage.input_tokens')).toBe(12);
      expect(tag(server, 'gen_ai.usage.output_tokens')).toBe(6);
      expect(tag(server, 'gen_ai.request.stream') ?? false).toBe(stream); // absent when no body says "stream"
      expect(tag(client, 'http.request.method')).toBe('POST');
      expect(tag(client, 'http.response.status_code')).toBe(200);
      // fastify calls CCR's handler from the body's 'end' listener: the server span is active there too
      expect(parentSpanId(client)).toBe(server.spanID);
      expect(processTag(t, client, 'process.pid')).toBe(gwPid);
      expect(String(processTag(t, server, 'process.command_args') ?? processTag(t, server, 'process.command') ?? '')).toContain('gateway-bootstrap');
      traceIds.push(normTraceId(t.traceID));
    }
    expect(new Set(traceIds).size).toBe(2);
  });

  test("the gateway's captured pino logs are in the log file, with the requests' trace ids", async () => {
    const gwPid = ccr!.gatewayPid;
    expect(traceIds).toHaveLength(2);
    const logs = await waitFor(
      'captured "Upstream request dispatched." records for both requests',
      () => {
        const l = readLogs(collector!.dataDir).filter((r) => r.pid === gwPid);
        const ids = new Set(l.filter((r) => r.body === 'Upstream request dispatched.').map((r) => normTraceId(r.traceId)));
        return traceIds.every((id) => ids.has(id)) ? l : undefined;
      },
      { timeoutMs: 30000, intervalMs: 500 },
    ).catch((e) => {
      const l = readLogs(collector!.dataDir).filter((r) => r.pid === gwPid);
      throw new Error(`${(e as Error).message}; gateway records: ${JSON.stringify(l.slice(-10).map((r) => [r.body, r.traceId]))}`);
    });
    const dispatched = logs.filter((r) => r.body === 'Upstream request dispatched.');
    for (const r of dispatched) {
      expect(r.service).toBe(SERVICE);
      expect(r.severityText).toBe('INFO');
    }
    // start-up lines of the gateway were captured too (no request, so no trace id)
    expect(logs.some((r) => typeof r.body === 'string' && /Gateway running at/.test(r.body))).toBe(true);
  });

  test('the serve process and the gateway child report as separate instances of the service', async () => {
    const instances = await waitFor(
      'spans from both CCR processes in the traces file',
      () => {
        const byPid = new Map<number, Set<string>>();
        for (const req of readJsonLines(signalFiles(collector!.dataDir, 'traces').all)) {
          for (const rs of req.resourceSpans ?? []) {
            if (attrValue(rs.resource?.attributes, 'service.name') !== SERVICE) continue;
            const pid = attrValue(rs.resource?.attributes, 'process.pid') as number;
            const set = byPid.get(pid) ?? new Set<string>();
            set.add(String(attrValue(rs.resource?.attributes, 'service.instance.id')));
            byPid.set(pid, set);
          }
        }
        return byPid.has(ccr!.proc.pid) && byPid.has(ccr!.gatewayPid) ? byPid : undefined;
      },
      { timeoutMs: 30000, intervalMs: 500 },
    );
    const serveIds = [...instances.get(ccr!.proc.pid)!];
    const gatewayIds = [...instances.get(ccr!.gatewayPid)!];
    expect(serveIds).toHaveLength(1);
    expect(gatewayIds).toHaveLength(1);
    expect(serveIds[0]).not.toBe(gatewayIds[0]);
  });

  test('the CCR API key and the provider key appear in no file the collector wrote', () => {
    expect(filesContaining(collector!.dataDir, [CCR_KEY, PROVIDER_KEY])).toEqual([]);
  });

  test('SIGTERM to `ccr serve` ends it and its gateway promptly', async () => {
    const gwPid = ccr!.gatewayPid;
    const t0 = Date.now();
    await ccr!.proc.stop('SIGTERM', 20000);
    await waitFor('the gateway child to exit', () => !alive(gwPid), { timeoutMs: 15000 });
    expect(Date.now() - t0).toBeLessThan(15000);
  });
});

describe('`ccr start` (detached service, stdout discarded) and `ccr stop` with the preload in NODE_OPTIONS', () => {
  const SERVICE_START = 'claude-code-router-start-e2e';

  test('the CLI processes exit promptly; the detached gateway still exports its captured logs', async () => {
    const { home, port, mgmtPort } = await prepareCcrHome({ upstreamUrl: upstream!.url, apiKey: CCR_KEY, providerKey: PROVIDER_KEY, model: MODEL });
    homes.push(home);
    const env = ccrEnv(home, { otlpEndpoint: collector!.otlpHttpEndpoint, serviceName: SERVICE_START, env: { CCR_OTEL_ADAPTIVE: 'false' } });

    const started = await runCcrCli(pkg, home, ['start', '--no-open', '--host', '127.0.0.1', '--port', String(mgmtPort)], env);
    const servicePid = ccrServicePid(home);
    if (servicePid) detached.push(servicePid);
    expect(started.code).toBe(0);
    expect(servicePid).toBeDefined();
    const gatewayPid = await waitFor(
      'the detached gateway',
      async () => {
        const pid = findDescendant(servicePid!, /gateway-bootstrap\.js/);
        return pid && (await isListening(port)) ? pid : undefined;
      },
      { timeoutMs: 60000, intervalMs: 200 },
    );
    detached.push(gatewayPid);

    const r = await postMessages(`http://127.0.0.1:${port}`, CCR_KEY, { model: MODEL, max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);

    // `ccr start` sends the service's stdout to /dev/null: the captured records are the only copy
    await waitFor(
      'captured gateway logs of the detached service',
      () =>
        readLogs(collector!.dataDir).some(
          (l) => l.service === SERVICE_START && l.pid === gatewayPid && l.body === 'Upstream request dispatched.' && /^[0-9a-f]{32}$/.test(l.traceId),
        ),
      { timeoutMs: 30000, intervalMs: 500 },
    );

    const stopped = await runCcrCli(pkg, home, ['stop'], env);
    expect(stopped.code).toBe(0);
    await waitFor('the detached service and its gateway to exit', () => !alive(servicePid!) && !alive(gatewayPid), { timeoutMs: 20000 });
    // without the preload these CLIs take about 2 s here; the preload must not hold them (flush on exit is bounded)
    expect(started.ms).toBeLessThan(15000);
    expect(stopped.ms).toBeLessThan(15000);
    console.log(`ccr start took ${started.ms} ms, ccr stop ${stopped.ms} ms (with the preload)`);
    expect(filesContaining(collector!.dataDir, [CCR_KEY, PROVIDER_KEY])).toEqual([]);
  });
});
