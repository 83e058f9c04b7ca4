import * as http from 'node:http';
import * as path from 'node:path';
import { attr, childEnv, runChild, startSink } from './helpers';
import type { Sink } from './helpers';

// the fake LLM upstream of the end-to-end tests (plain CommonJS)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFakeUpstream } = require('../../../test/fixtures/fake-upstream.js');

const fixture = path.join(__dirname, 'fixtures', 'genai-gateway.js');
jest.setTimeout(30000);

interface Ask {
  upstreamPath?: string;
  body: Record<string, unknown>;
  timeoutMs?: number;
  /** Destroy the connection after this many response bytes (a client cancel). */
  cancelAfterBytes?: number;
}

function ask(port: number, a: Ask): Promise<{ status: number; text: string; cancelled: boolean }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(a.body);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    if (a.upstreamPath) headers['x-upstream-path'] = a.upstreamPath;
    if (a.timeoutMs) headers['x-timeout-ms'] = String(a.timeoutMs);
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/messages', method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
        if (a.cancelAfterBytes !== undefined && text.length >= a.cancelAfterBytes) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, text, cancelled: true });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, cancelled: false }));
      res.on('error', () => undefined);
    });
    req.on('error', (e) => (a.cancelAfterBytes !== undefined ? undefined : reject(e)));
    req.end(body);
  });
}

/** Runs the fixture gateway for the asks (one after the other), returns the server spans and metrics it exported. */
async function scenario(upstreamOpts: Record<string, unknown>, asks: Ask[], env: Record<string, string> = {}) {
  const sink: Sink = await startSink();
  const upstream = await startFakeUpstream({ chunkDelayMs: 2, ...upstreamOpts });
  try {
    let done: Promise<unknown> | undefined;
    const answers: Array<{ status: number; text: string; cancelled: boolean }> = [];
    const r = await runChild(
      ['-r', '@ccr/otel-setup', fixture],
      childEnv(sink, { UPSTREAM_URL: upstream.url, EXIT_AFTER: String(asks.length), CCR_OTEL_ADAPTIVE: 'false', ...env }),
      {
        timeoutMs: 20000,
        onStdout: (out) => {
          const m = /listening (\d+)/.exec(out);
          if (!m || done) return;
          done = (async () => {
            for (const a of asks) answers.push(await ask(Number(m[1]), a));
          })();
        },
      },
    );
    await done;
    expect(r.stderr).toBe('');
    const servers = sink.spans().filter((s) => s.kind === 2);
    const metrics = sink.bodies
      .filter((b) => b.path === '/v1/metrics')
      .flatMap((b) => JSON.parse(b.text).resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics)));
    return { servers, metrics, answers, upstream };
  } finally {
    await upstream.close();
    await sink.close();
  }
}

const phases = (span: any) =>
  span.events.filter((e: any) => e.name === 'phase' && !attr(e.attributes, 'ccr.phase.incomplete')).map((e: any) => attr(e.attributes, 'ccr.phase.name') as string);

describe('GenAI attributes, phases and metrics of upstream LLM calls (fixture gateway + fake upstream)', () => {
  test('an OpenAI-format stream: provider, models, tokens, finish reason, first_token and stream phases, metrics', async () => {
    const { servers, metrics, answers } = await scenario(
      { words: ['a', 'b', 'c', 'd'], inputTokens: 5, responseModel: 'fake-model-2026' },
      [{ body: { model: 'fake,fake-model', max_tokens: 64, temperature: 0.5, stream: true, messages: [{ role: 'user', content: 'hi' }] } }],
      { ROUTED_MODEL: 'fake-model' },
    );
    expect(answers[0].status).toBe(200);
    expect(servers).toHaveLength(1);
    const s = servers[0];
    expect(attr(s.attributes, 'gen_ai.operation.name')).toBe('chat');
    // a loopback host is no known provider: the CCR provider named by the client
    expect(attr(s.attributes, 'gen_ai.provider.name')).toBe('fake');
    expect(attr(s.attributes, 'gen_ai.request.model')).toBe('fake-model');
    expect(attr(s.attributes, 'ccr.upstream.model')).toBe('fake-model');
    expect(attr(s.attributes, 'gen_ai.response.model')).toBe('fake-model-2026');
    expect(attr(s.attributes, 'gen_ai.response.id')).toMatch(/^chatcmpl-/);
    expect(attr(s.attributes, 'gen_ai.response.finish_reasons')).toEqual({ values: [{ stringValue: 'stop' }] });
    expect(attr(s.attributes, 'gen_ai.usage.input_tokens')).toBe(5);
    expect(attr(s.attributes, 'gen_ai.usage.output_tokens')).toBe(4);
    expect(attr(s.attributes, 'gen_ai.request.max_tokens')).toBe(64);
    expect(attr(s.attributes, 'gen_ai.request.temperature')).toBe(0.5);
    expect(attr(s.attributes, 'gen_ai.request.stream')).toBe(true);
    expect(attr(s.attributes, 'gen_ai.response.time_to_first_chunk')).toBeGreaterThan(0);
    expect(s.status?.code ?? 0).not.toBe(2);
    // no text unless capture is on
    expect(attr(s.attributes, 'ccr.gen_ai.prompt')).toBeUndefined();
    expect(attr(s.attributes, 'ccr.gen_ai.completion')).toBeUndefined();
    // the upstream phase's sub-phases ride on its one event: ttfb <= first token, then the stream
    expect(phases(s).filter((p: string) => p.startsWith('upstream'))).toEqual(['upstream']);
    const up = s.events.find((e: any) => e.name === 'phase' && attr(e.attributes, 'ccr.phase.name') === 'upstream');
    expect(attr(up.attributes, 'ccr.stream.chunks')).toBe(4);
    expect(attr(up.attributes, 'http.response.status_code')).toBe(200);
    const [ttfb, firstToken, stream, total] = ['ccr.phase.ttfb_ms', 'ccr.phase.first_token_ms', 'ccr.phase.stream_ms', 'ccr.phase.duration_ms'].map((k) => Number(attr(up.attributes, k)));
    expect(ttfb).toBeGreaterThan(0);
    expect(firstToken).toBeGreaterThanOrEqual(ttfb);
    expect(stream).toBeGreaterThanOrEqual(0);
    expect(firstToken + stream).toBeLessThanOrEqual(total + 1);
    const phaseMetric = metrics.find((m: any) => m.name === 'ccr.request.phase.duration');
    const phaseNames = phaseMetric.histogram.dataPoints.map((d: any) => attr(d.attributes, 'ccr.phase.name'));
    expect(phaseNames).toEqual(expect.arrayContaining(['upstream', 'upstream.ttfb', 'upstream.first_token', 'upstream.stream']));
    const names = new Set(metrics.map((m: any) => m.name));
    for (const n of ['gen_ai.client.operation.duration', 'gen_ai.client.token.usage', 'gen_ai.client.operation.time_to_first_chunk', 'gen_ai.client.operation.time_per_output_chunk']) {
      expect(names).toContain(n);
    }
    const usage = metrics.find((m: any) => m.name === 'gen_ai.client.token.usage');
    const byType = Object.fromEntries(usage.histogram.dataPoints.map((d: any) => [attr(d.attributes, 'gen_ai.token.type'), Number(d.sum)]));
    expect(byType).toEqual({ input: 5, output: 4 });
  });

  test('an Anthropic-format stream, gzip-encoded: cache tokens count into input; a price table gives the cost', async () => {
    const { servers, metrics } = await scenario(
      { words: ['w', 'x', 'y', 'z'], inputTokens: 5, compress: 'gzip' },
      [{ upstreamPath: '/v1/messages', body: { model: 'claude-sonnet-4-20250514', max_tokens: 32, stream: true, messages: [] } }],
      { CCR_OTEL_CONFIG: path.join(__dirname, 'fixtures', 'genai-prices.json') },
    );
    const s = servers[0];
    expect(attr(s.attributes, 'gen_ai.provider.name')).toBe('anthropic');
    expect(attr(s.attributes, 'gen_ai.response.model')).toBe('claude-sonnet-4-20250514');
    expect(attr(s.attributes, 'gen_ai.response.id')).toMatch(/^msg_/);
    expect(attr(s.attributes, 'gen_ai.usage.input_tokens')).toBe(5);
    expect(attr(s.attributes, 'gen_ai.usage.output_tokens')).toBe(4);
    expect(attr(s.attributes, 'gen_ai.response.finish_reasons')).toEqual({ values: [{ stringValue: 'end_turn' }] });
    expect(attr(s.events.find((e: any) => attr(e.attributes, 'ccr.phase.name') === 'upstream').attributes, 'ccr.phase.first_token_ms')).toBeGreaterThan(0);
    // 5 input at 3 USD and 4 output at 15 USD per million
    expect(attr(s.attributes, 'ccr.cost.usd')).toBeCloseTo((5 * 3 + 4 * 15) / 1e6, 12);
    expect(metrics.map((m: any) => m.name)).toContain('ccr.gen_ai.cost');
  });

  test('an upstream call through node:http (not undici): the same attributes and phases', async () => {
    const { servers } = await scenario(
      { words: ['a', 'b', 'c', 'd'], inputTokens: 5 },
      [{ upstreamPath: '/v1/messages', body: { model: 'claude-x', max_tokens: 16, stream: true, messages: [] } }],
      { CLIENT: 'http' },
    );
    const s = servers[0];
    expect(attr(s.attributes, 'gen_ai.provider.name')).toBe('anthropic');
    expect(attr(s.attributes, 'ccr.upstream.model')).toBe('claude-x');
    expect(attr(s.attributes, 'gen_ai.request.max_tokens')).toBe(16);
    expect(attr(s.attributes, 'gen_ai.usage.input_tokens')).toBe(5);
    expect(attr(s.attributes, 'gen_ai.usage.output_tokens')).toBe(4);
    const up = s.events.find((e: any) => attr(e.attributes, 'ccr.phase.name') === 'upstream');
    for (const k of ['ccr.phase.ttfb_ms', 'ccr.phase.first_token_ms', 'ccr.phase.stream_ms']) expect(attr(up.attributes, k)).toBeGreaterThanOrEqual(0);
    expect(attr(up.attributes, 'ccr.stream.chunks')).toBe(4);
  });

  test('opt-in capture: the head of the prompt (redacted) and the completion; off by default', async () => {
    const { servers } = await scenario(
      { words: ['The', ' answer', ' is', ' 42'] },
      [{ body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'see https://x.test/doc?key=AIzaSyFakeKey0123456789 please' }] } }],
      { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' },
    );
    const s = servers[0];
    expect(attr(s.attributes, 'ccr.gen_ai.completion')).toBe('The answer is 42');
    const prompt = String(attr(s.attributes, 'ccr.gen_ai.prompt'));
    expect(prompt).toContain('"messages"');
    expect(prompt).not.toContain('AIzaSyFakeKey0123456789');
  });

  test('errors: a 429 with Retry-After, a timeout; success is below 400', async () => {
    const { servers, answers } = await scenario({ failStatus: 429, retryAfter: 7 }, [
      { body: { model: 'm', stream: false, messages: [] } },
    ]);
    expect(answers[0].status).toBe(429);
    const s = servers[0];
    expect(s.status?.code).toBe(2);
    expect(attr(s.attributes, 'error.type')).toBe('429');
    expect(attr(s.attributes, 'ccr.upstream.error.type')).toBe('429');
    expect(attr(s.attributes, 'http.response.header.retry-after')).toEqual({ values: [{ stringValue: '7' }] });
    const up = s.events.find((e: any) => e.name === 'phase' && attr(e.attributes, 'ccr.phase.name') === 'upstream');
    expect(attr(up.attributes, 'error.type')).toBe('429');

    const t = await scenario({ latencyMs: 3000 }, [{ body: { model: 'm', messages: [] }, timeoutMs: 200 }]);
    expect(t.answers[0].status).toBe(502);
    // instrumentation-http gives a 5xx server span error.type = the status; the upstream's class stays beside it
    expect(attr(t.servers[0].attributes, 'ccr.upstream.error.type')).toBe('timeout');
    expect(t.servers[0].status?.code).toBe(2);
  });

  test('a client that cancels mid-stream: ccr.request.cancelled, not an error; no phase left open', async () => {
    const { servers, answers } = await scenario({ chunkDelayMs: 200, words: ['1', '2', '3', '4', '5', '6'] }, [
      { body: { model: 'm', stream: true, messages: [] }, cancelAfterBytes: 1 },
    ]);
    expect(answers[0].cancelled).toBe(true);
    const s = servers[0];
    expect(attr(s.attributes, 'ccr.request.cancelled')).toBe(true);
    expect(s.status?.code ?? 0).not.toBe(2);
    // every phase started was ended (none recorded as incomplete)
    const recorded = s.events.filter((e: any) => e.name === 'phase');
    expect(recorded.length).toBeGreaterThan(0);
    expect(recorded.filter((e: any) => attr(e.attributes, 'ccr.phase.incomplete'))).toEqual([]);
  });
});
