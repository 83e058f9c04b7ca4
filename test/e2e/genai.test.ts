/**
 * End-to-end: GenAI telemetry through the real Claude Code Router 3.1.1 (NODE_OPTIONS="--require
 * @ccr/otel-setup") → ccr-otelcol → Jaeger and the metrics file. Two CCRs: one routing to a fake
 * OpenAI-format upstream, one to a fake Anthropic-format upstream (gzip-encoded, as real providers
 * answer CCR's `accept-encoding: gzip`). Each upstream streams 4 tokens and reports usage prompt 5,
 * completion 4.
 */
import * as fs from 'node:fs';
import { findTracesInJaeger, readJsonLines, signalFiles, startCollector, startJaeger, type RunningCollector, type RunningJaeger } from '../helpers/collector';
import { installCcr, startCcr, type CcrProtocol, type RunningCcr } from '../helpers/ccr';
import { attrValue } from '../helpers/otlp-json';
import { waitFor } from '../helpers/process';
import { startFakeUpstream, type FakeUpstream } from '../helpers/upstream';
import { phaseEvents, tag } from './lib';

const CCR_KEY = 'sk-ccr-genai-e2e-Pq8client0key';
const PROVIDER_KEY = 'sk-prov-genai-e2e-Zr5upstream0key';

let jaeger: RunningJaeger | undefined;
let collector: RunningCollector | undefined;
const upstreams: FakeUpstream[] = [];
const ccrs: RunningCcr[] = [];

interface Route {
  protocol: CcrProtocol;
  service: string;
  model: string;
  provider: string;
  upstream?: FakeUpstream;
  ccr?: RunningCcr;
}

const ROUTES: Route[] = [
  { protocol: 'openai_chat_completions', service: 'ccr-genai-openai-e2e', model: 'fake-model', provider: 'openai' },
  { protocol: 'anthropic_messages', service: 'ccr-genai-anthropic-e2e', model: 'claude-fake-4', provider: 'anthropic' },
];

beforeAll(async () => {
  const pkg = installCcr();
  jaeger = await startJaeger();
  collector = await startCollector({ jaegerOtlpEndpoint: jaeger.otlpGrpcEndpoint });
  for (const r of ROUTES) {
    r.upstream = await startFakeUpstream({
      words: ['one', ' two', ' three', ' four'],
      inputTokens: 5,
      firstChunkDelayMs: 30,
      compress: r.protocol === 'anthropic_messages' ? 'gzip' : undefined,
    });
    upstreams.push(r.upstream);
    r.ccr = await startCcr(pkg, {
      upstreamUrl: r.upstream.url,
      apiKey: CCR_KEY,
      providerKey: PROVIDER_KEY,
      model: r.model,
      protocol: r.protocol,
      otlpEndpoint: collector.otlpHttpEndpoint,
      serviceName: r.service,
      env: { CCR_OTEL_ADAPTIVE: 'false' },
    });
    ccrs.push(r.ccr);
  }
}, 900000);

afterAll(async () => {
  for (const c of ccrs) await c.stop().catch(() => undefined);
  for (const u of upstreams) await u.close().catch(() => undefined);
  await collector?.stop().catch(() => undefined);
  await jaeger?.stop().catch(() => undefined);
  for (const c of ccrs) fs.rmSync(c.home, { recursive: true, force: true });
}, 60000);

/** POST /v1/messages; `cancelAfterBytes` aborts the response after that many bytes (Esc in Claude Code). */
async function post(r: Route, body: Record<string, unknown>, cancelAfterBytes?: number): Promise<{ status: number; text: string }> {
  const ac = new AbortController();
  const res = await fetch(`${r.ccr!.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': CCR_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
    signal: AbortSignal.any([ac.signal, AbortSignal.timeout(30000)]),
  });
  let text = '';
  const dec = new TextDecoder();
  try {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += dec.decode(c, { stream: true });
      if (cancelAfterBytes !== undefined && text.length >= cancelAfterBytes) {
        ac.abort();
        break;
      }
    }
  } catch {
    /* the abort */
  }
  return { status: res.status, text };
}

const serverSpans = (traces: any[]) =>
  traces.flatMap((t) => t.spans.filter((s: any) => tag(s, 'span.kind') === 'server' && tag(s, 'http.route') === '/v1/messages'));

const phaseEnd = (span: any, phase: string): Record<string, unknown> | undefined => {
  for (const l of span.logs ?? []) {
    const f: Record<string, unknown> = {};
    for (const kv of l.fields ?? []) f[kv.key] = kv.value;
    if (f.event === 'phase' && f['ccr.phase.name'] === phase) return f;
  }
  return undefined;
};

/** Histogram data points of a metric of one service in the collector's metric files. */
function histogramPoints(service: string, name: string): any[] {
  const out: any[] = [];
  for (const req of readJsonLines(signalFiles(collector!.dataDir, 'metrics').all)) {
    for (const rm of req.resourceMetrics ?? []) {
      if (attrValue(rm.resource?.attributes, 'service.name') !== service) continue;
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) if (m.name === name) out.push(...(m.histogram?.dataPoints ?? []));
    }
  }
  return out;
}

describe.each(ROUTES)('through CCR 3.1.1 to a fake $protocol upstream', (route) => {
  test('a streamed request: GenAI attributes, tokens 5 / 4 and the upstream phase first_token in Jaeger', async () => {
    const r = await post(route, { model: route.model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }] });
    expect(r.status).toBe(200);
    expect(r.text).toContain('message_stop');

    const withTokens = (s: any) => tag(s, 'gen_ai.usage.output_tokens') === 4 && tag(s, 'ccr.streaming') === true;
    const traces = await findTracesInJaeger(jaeger!.queryUrl, route.service, {
      timeoutMs: 45000,
      until: (ts) => serverSpans(ts).some(withTokens),
    }).catch(async (e) => {
      const ts = await findTracesInJaeger(jaeger!.queryUrl, route.service, { timeoutMs: 1000 }).catch(() => []);
      throw new Error(`${(e as Error).message}\nserver spans: ${JSON.stringify(serverSpans(ts).map((s: any) => s.tags))}`);
    });
    const s = serverSpans(traces).find(withTokens);
    expect(tag(s, 'gen_ai.operation.name')).toBe('chat');
    expect(tag(s, 'gen_ai.provider.name')).toBe(route.provider);
    expect(tag(s, 'gen_ai.request.model')).toBe(route.model);
    expect(tag(s, 'ccr.upstream.model')).toBe(route.model);
    expect(tag(s, 'gen_ai.response.model')).toBe(route.model);
    expect(String(tag(s, 'gen_ai.response.id'))).toMatch(route.protocol === 'anthropic_messages' ? /^msg_/ : /^chatcmpl-/);
    expect(tag(s, 'gen_ai.usage.input_tokens')).toBe(5);
    expect(tag(s, 'gen_ai.usage.output_tokens')).toBe(4);
    expect(tag(s, 'gen_ai.request.stream')).toBe(true);
    expect(tag(s, 'gen_ai.request.max_tokens')).toBe(64);
    // the fake upstream waits 30 ms before the first output chunk: first_token ends after ttfb (both on the upstream phase's event)
    const up = phaseEnd(s, 'upstream');
    const ttfb = Number(up?.['ccr.phase.ttfb_ms']);
    const firstToken = Number(up?.['ccr.phase.first_token_ms']);
    expect(firstToken).toBeGreaterThanOrEqual(25);
    expect(firstToken).toBeGreaterThan(ttfb);
    expect(Number(up?.['ccr.phase.stream_ms'])).toBeGreaterThanOrEqual(0);
    expect(up?.['ccr.stream.chunks']).toBe(4);
    expect(Number(tag(s, 'gen_ai.response.time_to_first_chunk'))).toBeCloseTo(firstToken / 1000, 2);
    expect(phaseEvents(s).filter((p) => p.startsWith('upstream'))).toEqual(['upstream']);
  });

  test('the metrics file holds the token-usage and time-to-first-chunk histograms', async () => {
    await waitFor(
      'gen_ai histograms in the metrics file',
      () => histogramPoints(route.service, 'gen_ai.client.token.usage').length >= 2 && histogramPoints(route.service, 'gen_ai.client.operation.time_to_first_chunk').length >= 1,
      { timeoutMs: 30000, intervalMs: 500 },
    );
    const usage = histogramPoints(route.service, 'gen_ai.client.token.usage');
    const last = (type: string) => usage.filter((d) => attrValue(d.attributes, 'gen_ai.token.type') === type).pop();
    for (const [type, n] of [['input', 5], ['output', 4]] as const) {
      const d = last(type);
      expect(attrValue(d.attributes, 'gen_ai.provider.name')).toBe(route.provider);
      expect(attrValue(d.attributes, 'gen_ai.response.model')).toBe(route.model);
      // cumulative: every streamed request so far reported the same counts
      expect(Number(d.sum) / Number(d.count)).toBe(n);
    }
    const ttfc = histogramPoints(route.service, 'gen_ai.client.operation.time_to_first_chunk').pop();
    expect(Number(ttfc.sum) / Number(ttfc.count)).toBeGreaterThanOrEqual(0.025);
  });
});

describe('errors and cancels through CCR 3.1.1', () => {
  const route = ROUTES[0];

  test('an upstream 429 with Retry-After fails the request with error.type 429 (no longer a success)', async () => {
    route.upstream!.configure({ failStatus: 429, retryAfter: 3 });
    let r: { status: number; text: string };
    try {
      r = await post(route, { model: route.model, max_tokens: 8, messages: [{ role: 'user', content: 'limit me' }] });
    } finally {
      route.upstream!.configure({ failStatus: 0, retryAfter: 0 });
    }
    expect(r.status).toBeGreaterThanOrEqual(400);
    const failed = (s: any) => tag(s, 'ccr.upstream.error.type') === '429';
    const traces = await findTracesInJaeger(jaeger!.queryUrl, route.service, { timeoutMs: 45000, until: (ts) => serverSpans(ts).some(failed) });
    const s = serverSpans(traces).find(failed);
    expect(tag(s, 'otel.status_code')).toBe('ERROR');
    expect(phaseEnd(s, 'upstream')?.['error.type']).toBe('429');
    expect(String(phaseEnd(s, 'upstream')?.['http.response.header.retry-after'])).toContain('3');
  });

  test('a client that cancels mid-stream is ccr.request.cancelled, not an error', async () => {
    route.upstream!.configure({ chunkDelayMs: 300 });
    try {
      const r = await post(route, { model: route.model, max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'cancel me' }] }, 1);
      expect(r.status).toBe(200);
    } finally {
      route.upstream!.configure({ chunkDelayMs: 5 });
    }
    const cancelled = (s: any) => tag(s, 'ccr.request.cancelled') === true;
    const traces = await findTracesInJaeger(jaeger!.queryUrl, route.service, { timeoutMs: 45000, until: (ts) => serverSpans(ts).some(cancelled) });
    const s = serverSpans(traces).find(cancelled);
    expect(tag(s, 'otel.status_code')).not.toBe('ERROR');
    // every phase that started ended (none recorded as incomplete)
    const ev = phaseEvents(s);
    expect(ev.length).toBeGreaterThan(0);
    expect(ev.filter((x) => x.startsWith('incomplete:'))).toEqual([]);
  });
});
