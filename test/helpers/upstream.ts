/**
 * The fake LLM upstream for the end-to-end tests (implementation in test/fixtures/fake-upstream.js,
 * plain CommonJS so the demo and `node` can use it too).
 *
 *   POST /v1/chat/completions   OpenAI-compatible; JSON, or SSE when "stream": true
 *   POST /v1/messages           Anthropic Messages; JSON, or SSE when "stream": true
 *   GET  /v1/models
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const impl = require('../fixtures/fake-upstream.js') as {
  startFakeUpstream(options?: FakeUpstreamOptions): Promise<FakeUpstream>;
};

export interface FakeUpstreamOptions {
  port?: number;
  host?: string;
  /** Delay before the answer (ms). */
  latencyMs?: number;
  /** Delay between SSE chunks (ms, default 5). */
  chunkDelayMs?: number;
  /** Record every request in `requests` (default true). */
  keepRequests?: boolean;
  /** Delay before the first output chunk of a stream (ms). */
  firstChunkDelayMs?: number;
  /** The output chunks (default six words: "Hello from the fake upstream."). */
  words?: string[];
  /** Prompt tokens reported in usage (default 12); completion tokens are words.length. */
  inputTokens?: number;
  /** Model named in answers (default: the model asked for). */
  responseModel?: string;
  /** Content-Encoding of 200 answers. */
  compress?: 'gzip' | 'br' | 'deflate';
  /** Answer every generation request with this status (a JSON error body). */
  failStatus?: number;
  /** Retry-After of failed answers (seconds). */
  retryAfter?: number;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface FakeUpstream {
  /** http://127.0.0.1:PORT (no path) */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Changes the answer options from now on (undefined values are kept as undefined: pass 0 / '' to turn off). */
  configure(options: Partial<Omit<FakeUpstreamOptions, 'port' | 'host'>>): void;
  close(): Promise<void>;
}

export function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  return impl.startFakeUpstream(options);
}
