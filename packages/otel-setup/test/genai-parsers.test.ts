import * as zlib from 'node:zlib';
import { JsonWindow, boolField, numberField, stringField, stringFields } from '../src/genai/json-window';
import { apiFormatOf, providerFromHost, resolveProvider, splitModel } from '../src/genai/providers';
import { requestFields } from '../src/genai/request-fields';
import { ResponseParser, type ResponseParserOptions, type ResponseSummary } from '../src/genai/response-parser';
import { errorTypeOf, errorTypeOfStatus } from '../src/genai/errors';
import { Pricing, priceTableProblem } from '../src/genai/pricing';
import { BoundedNames } from '../src/genai/metrics';
import { validateLayer } from '../src/config/file';

// ---- fixtures: what the providers send (shapes from their API references) ----

const sse = (events: Array<[string | undefined, unknown]>) =>
  events.map(([ev, data]) => `${ev ? `event: ${ev}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`).join('');

const ANTHROPIC_STREAM = sse([
  ['message_start', { type: 'message_start', message: { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 1 } } }],
  ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
  ['ping', { type: 'ping' }],
  ...['Hé', 'llo ', '世界', '!'].map((t): [string, unknown] => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }]),
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } }],
  ['message_stop', { type: 'message_stop' }],
]);

const chunk = (delta: unknown, finish: string | null = null, extra: object = {}) => ({
  id: 'chatcmpl-9',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, delta, finish_reason: finish }],
  ...extra,
});
const OPENAI_STREAM = sse([
  [undefined, chunk({ role: 'assistant', content: '' })],
  ...['a', 'b', 'c', 'd'].map((t): [undefined, unknown] => [undefined, chunk({ content: t })]),
  [undefined, chunk({}, 'stop')],
  [undefined, { ...chunk({}), choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9, prompt_tokens_details: { cached_tokens: 2 } } }],
  [undefined, '[DONE]'],
]);

const geminiChunk = (text: string, extra: object = {}) => ({
  candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0, ...extra }],
  usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 },
  modelVersion: 'gemini-2.5-flash',
  responseId: 'resp-g',
});
const GEMINI_STREAM = sse([
  [undefined, geminiChunk('one')],
  [undefined, geminiChunk('two')],
  [undefined, { ...geminiChunk('three', { finishReason: 'STOP' }), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, thoughtsTokenCount: 1, totalTokenCount: 9 } }],
]);

const RESPONSES_STREAM = sse([
  ['response.created', { type: 'response.created', response: { id: 'resp_1', model: 'gpt-5', status: 'in_progress' } }],
  ['response.output_text.delta', { type: 'response.output_text.delta', delta: 'hi' }],
  ['response.output_text.delta', { type: 'response.output_text.delta', delta: ' there' }],
  ['response.completed', { type: 'response.completed', response: { id: 'resp_1', model: 'gpt-5', status: 'completed', usage: { input_tokens: 5, output_tokens: 4, input_tokens_details: { cached_tokens: 1 }, output_tokens_details: { reasoning_tokens: 2 } } } }],
]);

const OPENAI_JSON = JSON.stringify({
  id: 'chatcmpl-j',
  object: 'chat.completion',
  model: 'deepseek-chat',
  choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(50000) + ' "prompt_tokens": 999 ' }, finish_reason: 'length' }],
  usage: { prompt_tokens: 5, completion_tokens: 4, prompt_cache_hit_tokens: 3 },
});
const ANTHROPIC_JSON = JSON.stringify({
  id: 'msg_j',
  type: 'message',
  role: 'assistant',
  model: 'claude-opus-4',
  content: [{ type: 'text', text: 'a "quoted" \\"usage\\" text' }],
  stop_reason: 'max_tokens',
  usage: { input_tokens: 5, output_tokens: 4, cache_read_input_tokens: 0 },
});
const GEMINI_JSON = JSON.stringify({ ...geminiChunk('whole', { finishReason: 'MAX_TOKENS' }), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, cachedContentTokenCount: 2 } });

// ---- helpers ----

function parse(opts: ResponseParserOptions, chunks: Buffer[]): Promise<ResponseSummary> {
  const p = new ResponseParser(opts);
  for (const c of chunks) p.write(c);
  return new Promise((resolve) => p.end(resolve));
}

/** Deterministic pseudo-random splits (no flaky seeds): mulberry32. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSplit(b: Buffer, r: () => number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const n = 1 + Math.floor(r() * Math.min(64, b.length - i));
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

const strip = (s: ResponseSummary) => ({ ...s, firstChunkAt: undefined, lastChunkAt: undefined });

// ---- tests ----

describe('ResponseParser', () => {
  const cases: Array<[string, ResponseParserOptions, string, Partial<ResponseSummary>]> = [
    [
      'Anthropic SSE',
      { format: 'anthropic', streaming: true },
      ANTHROPIC_STREAM,
      { responseId: 'msg_01', responseModel: 'claude-sonnet-4-20250514', finishReasons: ['end_turn'], chunks: 4, usage: { input: 125, output: 4, cacheRead: 100, cacheCreation: 20 } },
    ],
    [
      'OpenAI SSE',
      { format: 'openai', streaming: true },
      OPENAI_STREAM,
      { responseId: 'chatcmpl-9', responseModel: 'gpt-4o-2024-08-06', finishReasons: ['stop'], chunks: 4, usage: { input: 5, output: 4, cacheRead: 2 } },
    ],
    [
      'Gemini SSE',
      { format: 'gemini', streaming: true },
      GEMINI_STREAM,
      { responseId: 'resp-g', responseModel: 'gemini-2.5-flash', finishReasons: ['STOP'], chunks: 3, usage: { input: 5, output: 4, reasoning: 1 } },
    ],
    [
      'OpenAI Responses SSE',
      { format: 'openai_responses', streaming: true },
      RESPONSES_STREAM,
      { responseId: 'resp_1', responseModel: 'gpt-5', finishReasons: ['completed'], chunks: 2, usage: { input: 5, output: 4, cacheRead: 1, reasoning: 2 } },
    ],
    [
      'OpenAI JSON (50 KB of content between the head and the usage)',
      { format: 'openai', streaming: false },
      OPENAI_JSON,
      { responseId: 'chatcmpl-j', responseModel: 'deepseek-chat', finishReasons: ['length'], chunks: 0, usage: { input: 5, output: 4, cacheRead: 3 } },
    ],
    [
      'Anthropic JSON',
      { format: 'anthropic', streaming: false },
      ANTHROPIC_JSON,
      { responseId: 'msg_j', responseModel: 'claude-opus-4', finishReasons: ['max_tokens'], usage: { input: 5, output: 4, cacheRead: 0 } },
    ],
    [
      'Gemini JSON',
      { format: 'gemini', streaming: false },
      GEMINI_JSON,
      { responseId: 'resp-g', responseModel: 'gemini-2.5-flash', finishReasons: ['MAX_TOKENS'], usage: { input: 5, output: 4, cacheRead: 2 } },
    ],
  ];

  test.each(cases)('%s: the facts, whole', async (_n, opts, body, want) => {
    const s = await parse(opts, [Buffer.from(body)]);
    expect(s).toMatchObject({ ...want, malformed: false });
    if (opts.streaming) expect(s.firstChunkAt).toBeLessThanOrEqual(s.lastChunkAt!);
  });

  test.each(cases)('%s: the same facts for every split into two chunks and 200 random splits (UTF-8 cut anywhere)', async (_n, opts, body) => {
    const whole = strip(await parse(opts, [Buffer.from(body)]));
    const b = Buffer.from(body);
    const step = Math.max(1, Math.floor(b.length / 400));
    for (let i = 1; i < b.length; i += step) {
      expect(strip(await parse(opts, [b.subarray(0, i), b.subarray(i)]))).toEqual(whole);
    }
    const r = rng(42);
    for (let k = 0; k < 200; k++) expect(strip(await parse(opts, randomSplit(b, r)))).toEqual(whole);
  });

  test.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('%s-encoded streams and JSON answers give the same facts, in any chunking', async (enc, compress) => {
    for (const [opts, body] of [
      [{ format: 'anthropic', streaming: true }, ANTHROPIC_STREAM],
      [{ format: 'openai', streaming: false }, OPENAI_JSON],
    ] as Array<[ResponseParserOptions, string]>) {
      const plain = strip(await parse(opts, [Buffer.from(body)]));
      const z = compress(Buffer.from(body));
      expect(strip(await parse({ ...opts, encoding: enc }, [z]))).toEqual(plain);
      const r = rng(7);
      for (let k = 0; k < 20; k++) expect(strip(await parse({ ...opts, encoding: enc }, randomSplit(z, r)))).toEqual(plain);
    }
  });

  test('CRLF line breaks, a "data:" line without a space and bare "data:" / "event:" lines give the same facts, in any chunking', async () => {
    const opts: ResponseParserOptions = { format: 'anthropic', streaming: true };
    const plain = strip(await parse(opts, [Buffer.from(ANTHROPIC_STREAM)]));
    const odd = ANTHROPIC_STREAM.replace(/\n/g, '\r\n').replace(/data: /g, 'data:').replace(/^event: ping\r\n/m, 'event:\r\ndata:\r\nevent\r\ndata\r\n');
    expect(odd).not.toBe(ANTHROPIC_STREAM);
    const b = Buffer.from(odd);
    expect(strip(await parse(opts, [b]))).toEqual(plain);
    const r = rng(5);
    for (let k = 0; k < 200; k++) expect(strip(await parse(opts, randomSplit(b, r)))).toEqual(plain);
  });

  test('the first output chunk is reported once, synchronously, by the write that carries it', async () => {
    const seen: number[] = [];
    const p = new ResponseParser({ format: 'openai', streaming: true, onFirstChunk: (t) => seen.push(t) });
    const b = Buffer.from(OPENAI_STREAM);
    const firstOutput = b.indexOf('"content":"a"');
    p.write(b.subarray(0, firstOutput)); // the role chunk: no output yet
    expect(seen).toHaveLength(0);
    p.write(b.subarray(firstOutput));
    expect(seen).toHaveLength(1);
    await new Promise((r) => p.end(r));
    expect(seen).toHaveLength(1);
  });

  test('malformed input never throws: garbage, truncated JSON, bad compression, unknown encoding, an endless line', async () => {
    const inputs: Array<[ResponseParserOptions, Buffer[]]> = [
      [{ format: 'anthropic', streaming: true }, [Buffer.from('event: message_start\ndata: {"type":"message_start","message":{\n\n')]],
      [{ format: 'anthropic', streaming: true }, [Buffer.from('event: message_delta\ndata: not json\n\nevent: error\ndata: {]\n\n')]],
      [{ format: 'openai', streaming: true }, [Buffer.from('data: {"usage":{"prompt_tokens":\n\ndata: [DONE]\n')]],
      [{ format: 'gemini', streaming: true }, [Buffer.from('data: {"usageMetadata": nope}\n\n')]],
      [{ format: 'openai_responses', streaming: true }, [Buffer.from('event: response.completed\ndata: {"response":\n\n')]],
      [{ format: 'openai', streaming: false }, [Buffer.from('{"id": 12, "usage": {"prompt_tokens": "x"}')]],
      [{ format: 'openai', streaming: false, encoding: 'gzip' }, [Buffer.from('this is not gzip at all')]],
      [{ format: 'openai', streaming: true, encoding: 'br' }, [zlib.brotliCompressSync(Buffer.from(OPENAI_STREAM)).subarray(0, 40)]],
      [{ format: 'openai', streaming: true, encoding: 'compress' }, [Buffer.from(OPENAI_STREAM)]],
      [{ format: 'openai', streaming: true, maxLineBytes: 1024 }, [Buffer.from('data: ' + 'y'.repeat(5000)), Buffer.from('\n\n' + OPENAI_STREAM)]],
      [{ format: 'anthropic', streaming: true }, [Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x0a]), Buffer.alloc(0)]],
    ];
    const r = rng(3);
    for (let k = 0; k < 300; k++) {
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
      const fmt = (['anthropic', 'openai', 'gemini', 'openai_responses'] as const)[k % 4];
      inputs.push([{ format: fmt, streaming: k % 2 === 0, encoding: k % 5 === 0 ? 'gzip' : undefined }, [junk]]);
      // real streams with bytes flipped
      const b = Buffer.from([ANTHROPIC_STREAM, OPENAI_STREAM, GEMINI_STREAM, RESPONSES_STREAM][k % 4]);
      for (let j = 0; j < 5; j++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      inputs.push([{ format: fmt, streaming: true }, randomSplit(b, r)]);
    }
    for (const [opts, chunks] of inputs) {
      const s = await parse(opts, chunks);
      expect(s).toEqual(expect.objectContaining({ finishReasons: expect.any(Array), usage: expect.any(Object) }));
    }
    // the endless line was skipped and counted; the stream after it was still read
    const long = await parse({ format: 'openai', streaming: true, maxLineBytes: 1024 }, [Buffer.from('data: ' + 'y'.repeat(5000)), Buffer.from('\n\n' + OPENAI_STREAM)]);
    expect(long.malformed).toBe(true);
    expect(long.usage).toEqual({ input: 5, output: 4, cacheRead: 2 });
  });

  test('an event stream is decoded as a StringDecoder decodes it, for any chunking, valid UTF-8 or not', () => {
    const { StringDecoder } = require('node:string_decoder') as typeof import('node:string_decoder');
    let seed = 11;
    const r = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pieces = [Buffer.from('a'), Buffer.from('é'), Buffer.from('世'), Buffer.from('😀'), Buffer.from([0xff]), Buffer.from([0x80]), Buffer.from([0xe4, 0xb8]), Buffer.from([0xf0, 0x9f]), Buffer.from([0xc3])];
    for (let n = 0; n < 2000; n++) {
      const parts: Buffer[] = [];
      const len = 1 + Math.floor(r() * 12);
      for (let i = 0; i < len; i++) parts.push(pieces[Math.floor(r() * pieces.length)]);
      const bytes = Buffer.concat(parts);
      const decoder = new StringDecoder('utf8');
      const parser = new ResponseParser({ format: 'anthropic', streaming: true }) as unknown as { decode(b: Uint8Array): string; carry?: Buffer };
      let expected = '';
      let got = '';
      for (const c of randomSplit(bytes, r)) {
        expected += decoder.write(c);
        got += parser.decode(new Uint8Array(c));
      }
      expected += decoder.end();
      got += parser.carry ? parser.carry.toString('utf8') : '';
      expect(got).toBe(expected);
    }
  });

  test('an error event inside a 2xx stream is reported', async () => {
    const s = await parse({ format: 'anthropic', streaming: true }, [Buffer.from(sse([['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]]))]);
    expect(s.errorType).toBe('overloaded_error');
  });

  test('capture keeps at most captureBytes of output text; off by default', async () => {
    const on = await parse({ format: 'anthropic', streaming: true, captureBytes: 6 }, [Buffer.from(ANTHROPIC_STREAM)]);
    expect(on.text).toBe('Héllo ');
    const off = await parse({ format: 'anthropic', streaming: true }, [Buffer.from(ANTHROPIC_STREAM)]);
    expect(off.text).toBeUndefined();
  });
});

/** What the field readers did before they were written by hand: anchored regular expressions at each needle. */
function regexReader(kind: 'string' | 'scalar') {
  return (text: string, key: string, last = false): string[] => {
    const k = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re =
      kind === 'string'
        ? new RegExp(`"${k}"\\s*:\\s*"((?:[^"\\\\]|\\\\.){0,512})"`, 'y')
        : new RegExp(`"${k}"\\s*:\\s*(-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?|true|false)`, 'y');
    const needle = `"${key}"`;
    const out: string[] = [];
    let i = last ? text.lastIndexOf(needle) : text.indexOf(needle);
    while (i >= 0) {
      re.lastIndex = i;
      const m = re.exec(text);
      if (m) out.push(m[1]);
      i = last ? (i > 0 ? text.lastIndexOf(needle, i - 1) : -1) : text.indexOf(needle, i + 1);
    }
    return out;
  };
}

describe('JSON field readers', () => {
  const strings = regexReader('string');
  const scalars = regexReader('scalar');
  const firstNumber = (vs: string[]) => vs.map(Number).find((n) => Number.isFinite(n));
  const firstBool = (vs: string[]) => vs.map((v) => (v === 'true' ? true : v === 'false' ? false : undefined)).find((b) => b !== undefined);
  const unescaped = (v: string | undefined) => (v === undefined || v.indexOf('\\') < 0 ? v : JSON.parse(`"${v}"`));
  const check = (text: string, key: string) => {
    expect(stringField(text, key)).toEqual(unescaped(strings(text, key)[0]));
    expect(stringField(text, key, true)).toEqual(unescaped(strings(text, key, true)[0]));
    expect(numberField(text, key)).toEqual(firstNumber(scalars(text, key)));
    expect(numberField(text, key, true)).toEqual(firstNumber(scalars(text, key, true)));
    expect(boolField(text, key)).toEqual(firstBool(scalars(text, key)));
    expect(stringFields(text, key)).toEqual([...new Set(strings(text, key))].slice(0, 8));
  };

  test('read what the regular expressions they replace read: spacing, escapes, numbers, bounds, look-alikes', () => {
    const cases = [
      '{"model":"claude-sonnet-4","max_tokens":256,"stream":true}',
      '{ "model" :\t"a\\"b\\\\c" , "max_tokens" : -1.5e3, "stream" : false }',
      '{"model": "x", "messages": [{"content": "\\"model\\": \\"fake\\""}], "model": "y"}',
      '{"max_tokens": 12.}',
      '{"max_tokens": 1e}',
      '{"max_tokens": -}',
      '{"max_tokens": truthy, "stream": fals}',
      '{"max_tokens": "256", "stream": "true"}',
      '{"model"\u00a0:\u2028"nbsp"}',
      '{"model": "unterminated',
      '{"model": "line\\\nbreak"}',
      '{"model": "ends with a backslash\\',
      `{"model": "${'m'.repeat(512)}"}`,
      `{"model": "${'m'.repeat(513)}", "model": "short"}`,
      `{"model": "${'\\n'.repeat(512)}"}`,
      `{"model": "${'\\n'.repeat(513)}"}`,
      '{"model":',
      '"model"',
      '{"model": null, "model": "second"}',
      '{"finish_reason": "stop", "finish_reason": "length", "finish_reason": "stop"}',
    ];
    for (const text of cases) for (const key of ['model', 'max_tokens', 'stream', 'finish_reason', 'absent']) check(text, key);
  });

  test('agree with them on random JSON-like text', () => {
    let seed = 7;
    const r = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const parts = ['"k"', '"k"', ':', ' ', '\t', '"', '\\', '\\"', 'true', 'false', '-', '1', '2.5', 'e', 'E+', '9', ',', '}', 'x', '\n', '\u00a0'];
    for (let n = 0; n < 3000; n++) {
      let text = '';
      const len = 1 + Math.floor(r() * 14);
      for (let i = 0; i < len; i++) text += parts[Math.floor(r() * parts.length)];
      check(text, 'k');
    }
  });
});

describe('request fields, providers, errors, prices', () => {
  test('request fields come from the head (model) and the tail (Claude Code puts stream and max_tokens last)', () => {
    const body = JSON.stringify({ model: 'anthropic,claude-sonnet-4', messages: [{ role: 'user', content: 'q'.repeat(100000) + '"stream": false' }], temperature: 0.2, max_tokens: 32000, stream: true });
    const w = new JsonWindow(4096, 1024);
    const b = Buffer.from(body);
    for (let i = 0; i < b.length; i += 1000) w.write(b.subarray(i, i + 1000));
    expect(requestFields(w)).toEqual({ model: 'anthropic,claude-sonnet-4', temperature: 0.2, maxTokens: 32000, stream: true });
    expect(splitModel('anthropic,claude-sonnet-4')).toEqual({ provider: 'anthropic', model: 'claude-sonnet-4' });
    expect(splitModel('gpt-4o')).toEqual({ model: 'gpt-4o' });
  });

  test("a window's head text is decoded once and again only after the head grew", () => {
    const w = new JsonWindow(8, 4);
    w.write(Buffer.from('{"a":'));
    const first = w.headText();
    expect(first).toBe('{"a":');
    expect(w.headText()).toBe(first);
    w.write(Buffer.from('12345678'));
    expect(w.headText()).toBe('{"a":123');
    w.write(Buffer.from('9}')); // past the head: the tail only
    expect(w.headText()).toBe('{"a":123');
    expect(w.tailText()).toBe('789}');
    expect(w.text()).toBe('{"a":123\n…\n789}');
  });

  test('request fields the caller already knows are not looked for', () => {
    const w = new JsonWindow(4096, 1024);
    w.write(Buffer.from(JSON.stringify({ model: 'm', max_tokens: 9, temperature: 0.5, stream: true })));
    expect(requestFields(w)).toEqual({ model: 'm', stream: true, maxTokens: 9, temperature: 0.5 });
    expect(requestFields(w, { maxTokens: true })).toEqual({ model: 'm', stream: true, temperature: 0.5 });
    expect(requestFields(w, { temperature: true })).toEqual({ model: 'm', stream: true, maxTokens: 9 });
    expect(requestFields(w, { maxTokens: true, temperature: true })).toEqual({ model: 'm', stream: true });
  });

  test('API formats from paths; providers from hosts, then CCR provider names, then the format', () => {
    expect(apiFormatOf('/v1/chat/completions')).toBe('openai');
    expect(apiFormatOf('/api/v1/chat/completions')).toBe('openai');
    expect(apiFormatOf('/v1/messages')).toBe('anthropic');
    expect(apiFormatOf('/v1beta/models/gemini-2.5-pro:streamGenerateContent')).toBe('gemini');
    expect(apiFormatOf('/v1/responses')).toBe('openai_responses');
    expect(apiFormatOf('/v1/models')).toBeUndefined();
    expect(providerFromHost('api.deepseek.com')).toBe('deepseek');
    expect(providerFromHost('openrouter.ai:443')).toBe('openrouter');
    expect(providerFromHost('generativelanguage.googleapis.com')).toBe('gcp.gemini');
    expect(providerFromHost('myres.openai.azure.com')).toBe('azure.ai.openai');
    expect(providerFromHost('127.0.0.1:8080')).toBeUndefined();
    expect(resolveProvider('api.groq.com', 'openai', 'whatever')).toBe('groq');
    expect(resolveProvider('127.0.0.1:1', 'openai', 'Gemini')).toBe('gcp.gemini');
    expect(resolveProvider('127.0.0.1:1', 'openai', 'my-proxy')).toBe('my-proxy');
    expect(resolveProvider('127.0.0.1:1', 'anthropic', undefined)).toBe('anthropic');
  });

  test('error classes', () => {
    const err = (name: string, code?: string, cause?: unknown) => Object.assign(new Error('x'), { name, code, cause });
    expect(errorTypeOf(err('TimeoutError'))).toBe('timeout');
    expect(errorTypeOf(err('HeadersTimeoutError', 'UND_ERR_HEADERS_TIMEOUT'))).toBe('timeout');
    expect(errorTypeOf(err('Error', 'ECONNREFUSED'))).toBe('connection_error');
    expect(errorTypeOf(err('SocketError', 'UND_ERR_SOCKET'))).toBe('connection_error');
    expect(errorTypeOf(err('TypeError', undefined, err('Error', 'ECONNRESET')))).toBe('connection_error');
    expect(errorTypeOf(err('AbortError'))).toBe('aborted');
    expect(errorTypeOf(err('TypeError'))).toBe('TypeError');
    expect(errorTypeOf(undefined)).toBe('error');
    expect(errorTypeOfStatus(429)).toBe('429');
    expect(errorTypeOfStatus(200)).toBeUndefined();
  });

  test('prices: exact model, longest prefix, provider wildcard, cache prices; validation', () => {
    const p = new Pricing({
      anthropic: { 'claude-sonnet-4': { input: 3, output: 15, cacheRead: 0.3, cacheCreation: 3.75 }, claude: { input: 100, output: 100 } },
      '*': { 'gpt-4o': { input: 2.5, output: 10 } },
    });
    // 1000 input of which 600 cache reads and 100 cache writes, 200 output
    expect(p.costOf('anthropic', ['claude-sonnet-4-20250514'], { input: 1000, cacheRead: 600, cacheCreation: 100, output: 200 })).toBeCloseTo(
      (300 * 3 + 600 * 0.3 + 100 * 3.75 + 200 * 15) / 1e6,
      12,
    );
    expect(p.costOf('openrouter', [undefined, 'gpt-4o'], { input: 1e6, output: 0 })).toBeCloseTo(2.5, 12);
    expect(p.costOf('openai', ['unknown'], { input: 5, output: 5 })).toBeUndefined();
    expect(priceTableProblem({ a: { m: { input: 1, output: 2 } } })).toBeUndefined();
    expect(priceTableProblem({ a: { m: { input: -1, output: 2 } } })).toMatch(/a\.m\.input: must be a number >= 0/);
    expect(priceTableProblem({ a: { m: { input: 1 } } })).toMatch(/needs input and output/);
    expect(priceTableProblem({ a: { m: { input: 1, output: 1, cached: 1 } } })).toMatch(/unknown price/);
  });

  test('the config file validates the genai keys with a clear message', () => {
    expect(validateLayer({ genai: { captureContent: true, maxModels: 5, prices: { openai: { 'gpt-4o': { input: 2.5, output: 10 } } } } })).toBeUndefined();
    expect(validateLayer({ genai: { prices: { openai: { 'gpt-4o': { input: 'cheap', output: 10 } } } } })).toMatch(/^genai\.prices: openai\.gpt-4o\.input: must be a number >= 0/);
    expect(validateLayer({ genai: { maxModels: 0 } })).toMatch(/^genai\.maxModels: must be an integer >= 1/);
    expect(validateLayer({ genai: { capture: true } })).toMatch(/^genai\.capture: unknown setting/);
  });

  test('model names in metrics are bounded', () => {
    const b = new BoundedNames(2);
    expect([b.get('a'), b.get('b'), b.get('c'), b.get('a')]).toEqual(['a', 'b', '_OTHER', 'a']);
  });
});
