import type { Attributes } from '@opentelemetry/api';
import { JsonWindow } from './json-window';
import type { GenAiMetrics } from './metrics';
import type { Pricing } from './pricing';
import { apiFormatOf, geminiModelOf, operationOf, resolveProvider, type ApiFormat } from './providers';
import { requestFields, type RequestFields } from './request-fields';
import { ResponseParser, type ResponseSummary } from './response-parser';

/** What the GenAI layer needs from the preload's configuration. */
export interface GenAiOptions {
  metrics?: GenAiMetrics;
  pricing?: Pricing;
  /** Bytes of prompt (upstream request body) and completion text recorded; 0 (default) records none. */
  captureBytes?: number;
  /** Applied to every captured text before it is recorded. */
  redact?: (text: string) => string;
}

/** What the client asked for (the incoming request's body), split from CCR's `provider,model`. */
export interface ClientAsk extends RequestFields {
  ccrProvider?: string;
}

/** Everything the span and the phases get from one finished call. */
export interface GenAiCallResult {
  /** For the request's span. */
  span: Attributes;
  /** Streamed answers: for the upstream phase's event (its stream sub-phase). */
  stream?: Attributes;
  errorType?: string;
}

const REQUEST_HEAD = 4096;
const REQUEST_TAIL = 1024;

/**
 * One upstream LLM call, from dispatch to the end of its answer: reads the fields of the request
 * body the gateway sends (bounded window), the answer's status and headers, and the answer's body
 * through a ResponseParser (only for a 2xx JSON or event-stream answer); then gives the GenAI span
 * attributes and records the metrics. Created only for paths that look like an LLM API.
 */
export class GenAiCall {
  readonly startedAt = performance.now();
  private readonly body: JsonWindow;
  private parser: ResponseParser | undefined;
  private status: number | undefined;
  private streaming = false;
  private firstChunkAt: number | undefined;

  static forPath(path: string): ApiFormat | undefined {
    return apiFormatOf(path);
  }

  constructor(
    readonly format: ApiFormat,
    private readonly host: string,
    private readonly path: string,
    private readonly opts: GenAiOptions,
    /** Called once, synchronously, at the first output chunk of a streamed answer. */
    private readonly onFirstChunk?: (at: number) => void,
  ) {
    // request body chunks are fresh buffers the client never reuses: no copies
    this.body = new JsonWindow(Math.max(REQUEST_HEAD, opts.captureBytes ?? 0), REQUEST_TAIL, false);
  }

  requestChunk(chunk: Uint8Array | string): void {
    this.body.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  /** Response headers: decide whether the body is read (2xx JSON or event stream). */
  responseHeaders(status: number, contentType: string | undefined, contentEncoding: string | undefined): void {
    this.status = status;
    if (status < 200 || status >= 300 || !contentType) return;
    const sse = contentType.includes('text/event-stream');
    if (!sse && !contentType.includes('json')) return;
    this.streaming = sse;
    this.parser = new ResponseParser({
      format: this.format,
      streaming: sse,
      encoding: contentEncoding,
      captureBytes: this.opts.captureBytes,
      onFirstChunk: sse
        ? (at) => {
            this.firstChunkAt = at;
            this.onFirstChunk?.(at);
          }
        : undefined,
    });
  }

  responseChunk(chunk: Uint8Array): void {
    this.parser?.write(chunk);
  }

  /**
   * The answer ended (`errorType` undefined) or failed (the tracker's classification). `cb` gets the
   * result once: synchronously, or after the decompressor drained. `client` is what the incoming
   * request asked for. `record` false leaves the metrics out (a call cut short by a client cancel).
   */
  end(errorType: string | undefined, client: ClientAsk, record: boolean, cb: (r: GenAiCallResult) => void): void {
    const endedAt = performance.now();
    const parser = this.parser;
    this.parser = undefined;
    const finish = (summary: ResponseSummary | undefined) => {
      let r: GenAiCallResult;
      try {
        r = this.result(errorType, client, summary, endedAt, record);
      } catch {
        r = { span: {} };
      }
      cb(r);
    };
    if (parser && !errorType && record) parser.end(finish);
    else finish(parser?.snapshot());
  }

  private result(errorType: string | undefined, client: ClientAsk, s: ResponseSummary | undefined, endedAt: number, record: boolean): GenAiCallResult {
    // what the client's body gave wins: the upstream body is not searched for it
    const sent = requestFields(this.body, { maxTokens: client.maxTokens !== undefined, temperature: client.temperature !== undefined });
    const upstreamModel = sent.model ?? (this.format === 'gemini' ? geminiModelOf(this.path) : undefined);
    const provider = resolveProvider(this.host, this.format, client.ccrProvider);
    const requestModel = client.model ?? upstreamModel;
    const span: Attributes = { 'gen_ai.operation.name': operationOf(this.format), 'gen_ai.provider.name': provider };
    if (requestModel) span['gen_ai.request.model'] = requestModel;
    if (upstreamModel) span['ccr.upstream.model'] = upstreamModel;
    const maxTokens = client.maxTokens ?? sent.maxTokens;
    if (maxTokens !== undefined) span['gen_ai.request.max_tokens'] = maxTokens;
    const temperature = client.temperature ?? sent.temperature;
    if (temperature !== undefined) span['gen_ai.request.temperature'] = temperature;
    const stream = sent.stream ?? (this.format === 'gemini' ? this.path.endsWith(':streamGenerateContent') : client.stream);
    if (stream !== undefined) span['gen_ai.request.stream'] = stream;

    // a provider error inside a 2xx answer (e.g. an `error` event mid-stream) fails the call too
    if (!errorType && s?.errorType) errorType = s.errorType;
    if (errorType) span['error.type'] = errorType;

    let stream_: Attributes | undefined;
    let ttfc: number | undefined;
    let perChunk: number | undefined;
    if (s) {
      if (s.responseModel) span['gen_ai.response.model'] = s.responseModel;
      if (s.responseId) span['gen_ai.response.id'] = s.responseId;
      if (s.finishReasons.length) span['gen_ai.response.finish_reasons'] = s.finishReasons;
      const u = s.usage;
      if (u.input !== undefined) span['gen_ai.usage.input_tokens'] = u.input;
      if (u.output !== undefined) span['gen_ai.usage.output_tokens'] = u.output;
      if (u.cacheRead !== undefined) span['gen_ai.usage.cache_read.input_tokens'] = u.cacheRead;
      if (u.cacheCreation !== undefined) span['gen_ai.usage.cache_creation.input_tokens'] = u.cacheCreation;
      if (u.reasoning !== undefined) span['gen_ai.usage.reasoning.output_tokens'] = u.reasoning;
      if (s.malformed) span['ccr.gen_ai.response.unreadable'] = true;
      const first = s.firstChunkAt ?? this.firstChunkAt;
      if (this.streaming && first !== undefined) {
        ttfc = (first - this.startedAt) / 1000;
        span['gen_ai.response.time_to_first_chunk'] = ttfc;
        stream_ = { 'ccr.stream.chunks': s.chunks };
        if (s.chunks > 1 && s.lastChunkAt !== undefined) {
          perChunk = (s.lastChunkAt - first) / 1000 / (s.chunks - 1);
          stream_['ccr.stream.time_per_output_chunk_ms'] = perChunk * 1000;
        }
      }
      const redact = this.opts.redact ?? ((t: string) => t);
      if (this.opts.captureBytes && s.text) span['ccr.gen_ai.completion'] = redact(s.text);
    }
    if (this.opts.captureBytes) {
      const prompt = this.body.headText().slice(0, this.opts.captureBytes);
      if (prompt) span['ccr.gen_ai.prompt'] = (this.opts.redact ?? ((t: string) => t))(prompt);
    }
    let cost: number | undefined;
    if (this.opts.pricing && s) {
      cost = this.opts.pricing.costOf(provider, [s.responseModel, upstreamModel, requestModel], s.usage);
      if (cost !== undefined) span['ccr.cost.usd'] = cost;
    }
    if (record)
      this.opts.metrics?.record({
      operation: operationOf(this.format),
      provider,
      requestModel,
      responseModel: s?.responseModel,
      status: this.status,
      errorType,
      durationS: (endedAt - this.startedAt) / 1000,
      usage: s?.usage ?? {},
      timeToFirstChunkS: ttfc,
      timePerOutputChunkS: perChunk,
      costUsd: cost,
    });
    return { span, stream: stream_, errorType };
  }
}
