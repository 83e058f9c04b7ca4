import type * as Zlib from 'node:zlib';
import { JsonWindow, numberField, stringField, stringFields } from './json-window';
import type { ApiFormat } from './providers';

/** Token counts as the GenAI conventions define them: input includes cached input, output includes reasoning. */
export interface TokenUsage {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheCreation?: number;
  reasoning?: number;
}

export interface ResponseSummary {
  responseModel?: string;
  responseId?: string;
  finishReasons: string[];
  usage: TokenUsage;
  /** Stream events that carried output (text, tool-call arguments, reasoning). */
  chunks: number;
  /** performance.now() of the first and the last output chunk. */
  firstChunkAt?: number;
  lastChunkAt?: number;
  /** An error the provider reported inside a 2xx answer (e.g. Anthropic's `overloaded_error` event). */
  errorType?: string;
  /** Output text, only when capture is on (at most captureBytes). */
  text?: string;
  /** The body could not be read (bad compression, unknown encoding, a line over the bound). */
  malformed: boolean;
}

export interface ResponseParserOptions {
  format: ApiFormat;
  /** text/event-stream (else one JSON document). */
  streaming: boolean;
  /** Content-Encoding of the body; gzip, x-gzip, deflate, br and zstd are decoded, anything else is not read. */
  encoding?: string;
  /** Bytes of output text kept for capture; 0 (default) keeps none. */
  captureBytes?: number;
  /** Longest SSE line looked at; a longer one is skipped (counted as malformed). Default 1 MiB. */
  maxLineBytes?: number;
  /** Called once, synchronously, when the first output chunk is parsed. */
  onFirstChunk?: (at: number) => void;
}

const WINDOW_HEAD = 8192;
const WINDOW_TAIL = 8192;
/** Longest payload kept for the end-of-stream parse (usage events are small). */
const MAX_KEPT_PAYLOAD = 256 * 1024;

function decompressor(encoding: string): Zlib.Gunzip | Zlib.Inflate | Zlib.BrotliDecompress | undefined | null {
  const e = encoding.trim().toLowerCase();
  if (e === '' || e === 'identity') return undefined;
  // zlib loads with the first compressed answer
  const zlib = require('node:zlib') as typeof Zlib;
  // finishFlush: a cut-off body still yields what arrived
  if (e === 'gzip' || e === 'x-gzip') return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
  if (e === 'deflate') return zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
  if (e === 'br') return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  const z = zlib as unknown as { createZstdDecompress?: () => Zlib.Gunzip };
  if (e === 'zstd' && z.createZstdDecompress) return z.createZstdDecompress();
  return null;
}

/**
 * Reads the GenAI facts out of an LLM response body as it streams by, with bounded memory: SSE
 * events are split into lines (one partial line kept) and only the few events that matter are
 * parsed (Anthropic message_start / message_delta, the last usage-bearing event of OpenAI and Gemini
 * streams); a JSON answer is kept as a head and a tail window and read with anchored patterns.
 * Nothing here throws: malformed input ends up as `malformed` with whatever was read before it.
 */
export class ResponseParser {
  private readonly o: ResponseParserOptions;
  private readonly captureBytes: number;
  private readonly maxLine: number;
  private readonly summary: ResponseSummary = { finishReasons: [], usage: {}, chunks: 0, malformed: false };
  private z: ReturnType<typeof decompressor>;
  /** An event stream's text is decoded chunk by chunk: the tail of a UTF-8 sequence cut by a chunk waits here. */
  private carry: Buffer | undefined;
  private window: JsonWindow | undefined;
  private partial = '';
  private skippingLine = false;
  private event: string | undefined;
  /** The last event payload that carries usage (OpenAI, Gemini) or the final response (OpenAI Responses). */
  private kept: string | undefined;
  private captured = '';
  private headSeen = false;
  private disabled = false;
  private ended = false;
  private done: ((s: ResponseSummary) => void) | undefined;
  private delivered = false;

  constructor(options: ResponseParserOptions) {
    this.o = options;
    this.captureBytes = options.captureBytes ?? 0;
    this.maxLine = options.maxLineBytes ?? 1024 * 1024;
    try {
      this.z = options.encoding ? decompressor(options.encoding) : undefined;
      if (this.z === null) {
        this.disabled = true;
        this.summary.malformed = true;
      } else if (this.z) {
        this.z.on('data', (b: Buffer) => this.consume(b));
        this.z.on('error', () => {
          this.summary.malformed = true;
          this.disabled = true;
          this.deliver();
        });
        this.z.on('end', () => this.deliver());
      }
      if (!options.streaming) this.window = new JsonWindow(WINDOW_HEAD, WINDOW_TAIL);
    } catch {
      this.disabled = true;
      this.summary.malformed = true;
    }
  }

  write(chunk: Uint8Array | string): void {
    if (this.disabled || this.ended) return;
    try {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (this.z) this.z.write(b);
      else this.consume(b);
    } catch {
      this.fail();
    }
  }

  /** Calls `cb` once with the summary: at once, or when the decompressor has drained. */
  end(cb: (s: ResponseSummary) => void): void {
    if (this.ended) return;
    this.ended = true;
    this.done = cb;
    if (this.z && !this.disabled) {
      try {
        this.z.end();
        return; // 'end' or 'error' delivers
      } catch {
        this.fail();
      }
    }
    this.deliver();
  }

  /** The summary as read so far (no end-of-body parsing): for a request that ends before its upstream. */
  snapshot(): ResponseSummary {
    return this.summary;
  }

  private fail(): void {
    this.summary.malformed = true;
    this.disabled = true;
  }

  private deliver(): void {
    if (this.delivered || !this.ended) return;
    this.delivered = true;
    try {
      if (!this.disabled) this.finish();
    } catch {
      this.summary.malformed = true;
    }
    if (this.captureBytes > 0 && this.captured) this.summary.text = this.captured;
    const cb = this.done;
    this.done = undefined;
    try {
      cb?.(this.summary);
    } catch {
      /* the callback's own problem */
    }
  }

  private consume(b: Uint8Array): void {
    if (this.disabled) return;
    try {
      if (this.window) this.window.write(b);
      else this.lines(this.decode(b));
    } catch {
      this.fail();
    }
  }

  /**
   * A chunk of the event stream as text: a UTF-8 sequence cut at its end waits for the next chunk
   * (what a StringDecoder does, without its per-stream buffer and per-chunk bookkeeping).
   */
  private decode(chunk: Uint8Array): string {
    let b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carry) {
      b = Buffer.concat([this.carry, b]);
      this.carry = undefined;
    }
    const cut = completeUtf8Length(b);
    // a copy: the chunk's memory may be reused by its reader
    if (cut < b.length) this.carry = Buffer.from(b.subarray(cut));
    return b.toString('utf8', 0, cut);
  }

  // ---- SSE ----

  private lines(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      if (this.skippingLine) {
        this.skippingLine = false;
        start = nl + 1;
        continue;
      }
      if (this.partial) {
        let line = this.partial + text.slice(start, nl);
        this.partial = '';
        if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
        this.line(line, 0, line.length);
      } else {
        // read in place: no string per line, only the payloads and event names taken out of it
        this.line(text, start, nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      }
      start = nl + 1;
    }
    if (start < text.length && !this.skippingLine) {
      const rest = start === 0 ? text : text.slice(start);
      if (this.partial.length + rest.length > this.maxLine) {
        this.partial = '';
        this.skippingLine = true;
        this.summary.malformed = true;
      } else this.partial += rest;
    }
  }

  /** The line text[from, to) (its line break left out). */
  private line(text: string, from: number, to: number): void {
    if (to === from) {
      this.event = undefined;
      return;
    }
    const c = text.charCodeAt(from);
    if (c === 100 /* d */ && to - from >= 5 && text.startsWith('data:', from)) {
      this.data(text.slice(from + 5 < to && text.charCodeAt(from + 5) === 32 ? from + 6 : from + 5, to));
    } else if (c === 101 /* e */ && to - from >= 6 && text.startsWith('event:', from)) {
      this.event = text.slice(from + 6, to).trim();
    }
  }

  private data(p: string): void {
    switch (this.o.format) {
      case 'anthropic':
        return this.anthropicEvent(p);
      case 'openai':
        return this.openaiChunk(p);
      case 'gemini':
        return this.geminiChunk(p);
      case 'openai_responses':
        return this.responsesEvent(p);
    }
  }

  /** An output chunk; `text` reads its output text from the payload, only when capture is on. */
  private chunk(p: string, text: (p: string) => string | undefined): void {
    const now = performance.now();
    const s = this.summary;
    s.chunks++;
    s.lastChunkAt = now;
    if (s.firstChunkAt === undefined) {
      s.firstChunkAt = now;
      try {
        this.o.onFirstChunk?.(now);
      } catch {
        /* never into the parser */
      }
    }
    if (this.captureBytes > 0 && this.captured.length < this.captureBytes) {
      const t = text(p);
      if (t) this.captured = (this.captured + t).slice(0, this.captureBytes);
    }
  }

  private anthropicEvent(p: string): void {
    const type = this.event ?? stringField(p, 'type');
    if (type === 'content_block_delta') {
      this.chunk(p, anthropicText);
    } else if (type === 'message_start') {
      const m = JSON.parse(p).message ?? {};
      if (typeof m.id === 'string') this.summary.responseId = m.id;
      if (typeof m.model === 'string') this.summary.responseModel = m.model;
      this.anthropicUsage(m.usage);
    } else if (type === 'message_delta') {
      const j = JSON.parse(p);
      const r = j.delta?.stop_reason;
      if (typeof r === 'string') this.addFinish(r);
      this.anthropicUsage(j.usage);
    } else if (type === 'error') {
      const e = JSON.parse(p).error;
      this.summary.errorType = typeof e?.type === 'string' ? e.type : 'error';
    }
  }

  /** Anthropic's input_tokens leaves out cached input: the conventions' input includes it. */
  private anthropicUsage(u: Record<string, unknown> | undefined): void {
    if (!u || typeof u !== 'object') return;
    const s = this.summary.usage;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    const inT = num(u.input_tokens);
    const cr = num(u.cache_read_input_tokens);
    const cc = num(u.cache_creation_input_tokens);
    const out = num(u.output_tokens);
    if (cr !== undefined) s.cacheRead = cr;
    if (cc !== undefined) s.cacheCreation = cc;
    if (inT !== undefined) s.input = inT + (s.cacheRead ?? 0) + (s.cacheCreation ?? 0);
    if (out !== undefined) s.output = out;
  }

  private openaiChunk(p: string): void {
    if (p === '[DONE]') return;
    const s = this.summary;
    if (!this.headSeen) {
      this.headSeen = true;
      const id = stringField(p, 'id');
      const model = stringField(p, 'model');
      if (id) s.responseId = id;
      if (model) s.responseModel = model;
    }
    if (p.startsWith('{"error"')) {
      const e = JSON.parse(p).error ?? {};
      s.errorType = String(e.code ?? e.type ?? 'error');
      return;
    }
    if (hasStringValue(p, '"content"') || hasStringValue(p, '"reasoning_content"') || hasStringValue(p, '"reasoning"') || p.indexOf('"tool_calls"') >= 0) {
      this.chunk(p, openaiText);
    }
    if (hasStringValue(p, '"finish_reason"', true)) for (const r of stringFields(p, 'finish_reason')) this.addFinish(r);
    if (p.indexOf('"usage"') >= 0 && !USAGE_NULL.test(p) && p.length <= MAX_KEPT_PAYLOAD) this.kept = p;
  }

  private geminiChunk(p: string): void {
    if (p.indexOf('"text"') >= 0 || p.indexOf('"functionCall"') >= 0) {
      this.chunk(p, geminiText);
    }
    if (p.indexOf('"finishReason"') >= 0) for (const r of stringFields(p, 'finishReason')) this.addFinish(r);
    if (p.indexOf('"usageMetadata"') >= 0 && p.length <= MAX_KEPT_PAYLOAD) this.kept = p;
  }

  private responsesEvent(p: string): void {
    const type = this.event ?? stringField(p, 'type');
    if (!type) return;
    if (type.endsWith('.delta')) {
      this.chunk(p, responsesText);
    } else if (type === 'response.created') {
      const r = JSON.parse(p).response ?? {};
      if (typeof r.id === 'string') this.summary.responseId = r.id;
      if (typeof r.model === 'string') this.summary.responseModel = r.model;
    } else if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
      if (p.length <= MAX_KEPT_PAYLOAD) this.kept = p;
      else this.summary.malformed = true;
    } else if (type === 'error') {
      this.summary.errorType = stringField(p, 'code') ?? 'error';
    }
  }

  private addFinish(r: string): void {
    const f = this.summary.finishReasons;
    if (!f.includes(r) && f.length < 8) f.push(r);
  }

  // ---- end of body ----

  private finish(): void {
    if (this.o.streaming) {
      // a sequence still cut at the end decodes as U+FFFD, as a StringDecoder's end() gives it
      const rest = this.carry ? this.carry.toString('utf8') : '';
      this.carry = undefined;
      if (rest) this.lines(rest);
      if (this.partial && !this.skippingLine) {
        const last = this.partial;
        this.partial = '';
        this.line(last, 0, last.length);
      }
      if (this.kept) this.finishKept(JSON.parse(this.kept));
    } else if (this.window) this.finishJson(this.window);
    const s = this.summary;
    const u = s.usage;
    for (const k of Object.keys(u) as Array<keyof TokenUsage>) if (u[k] === undefined) delete u[k];
    if (s.responseId === undefined) delete s.responseId;
    if (s.responseModel === undefined) delete s.responseModel;
  }

  private finishKept(j: any): void {
    const s = this.summary;
    const u = s.usage;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    if (this.o.format === 'openai') {
      const x = j.usage ?? {};
      u.input = num(x.prompt_tokens);
      u.output = num(x.completion_tokens);
      u.cacheRead = num(x.prompt_tokens_details?.cached_tokens) ?? num(x.prompt_cache_hit_tokens);
      u.reasoning = num(x.completion_tokens_details?.reasoning_tokens);
      if (typeof j.model === 'string') s.responseModel ??= j.model;
    } else if (this.o.format === 'gemini') {
      const x = j.usageMetadata ?? {};
      u.input = num(x.promptTokenCount);
      const cand = num(x.candidatesTokenCount);
      u.reasoning = num(x.thoughtsTokenCount);
      u.output = cand === undefined && u.reasoning === undefined ? undefined : (cand ?? 0) + (u.reasoning ?? 0);
      u.cacheRead = num(x.cachedContentTokenCount);
      if (typeof j.modelVersion === 'string') s.responseModel = j.modelVersion;
      if (typeof j.responseId === 'string') s.responseId = j.responseId;
    } else if (this.o.format === 'openai_responses') {
      const r = j.response ?? {};
      const x = r.usage ?? {};
      u.input = num(x.input_tokens);
      u.output = num(x.output_tokens);
      u.cacheRead = num(x.input_tokens_details?.cached_tokens);
      u.reasoning = num(x.output_tokens_details?.reasoning_tokens);
      if (typeof r.model === 'string') s.responseModel = r.model;
      if (typeof r.id === 'string') s.responseId = r.id;
      const reason = r.incomplete_details?.reason ?? r.status;
      if (typeof reason === 'string') this.addFinish(reason);
    }
  }

  private finishJson(w: JsonWindow): void {
    const s = this.summary;
    const u = s.usage;
    const head = w.headText();
    const tail = w.tailText() || head;
    if (this.captureBytes > 0) this.captured = head.slice(0, this.captureBytes);
    const last = (k: string) => numberField(tail, k, true);
    switch (this.o.format) {
      case 'openai':
        s.responseId = stringField(head, 'id');
        s.responseModel = stringField(head, 'model');
        for (const r of stringFields(w.text(), 'finish_reason')) this.addFinish(r);
        u.input = last('prompt_tokens');
        u.output = last('completion_tokens');
        u.cacheRead = last('cached_tokens') ?? last('prompt_cache_hit_tokens');
        u.reasoning = last('reasoning_tokens');
        break;
      case 'anthropic': {
        s.responseId = stringField(head, 'id');
        s.responseModel = stringField(head, 'model');
        const r = stringField(tail, 'stop_reason', true);
        if (r) this.addFinish(r);
        u.cacheRead = last('cache_read_input_tokens');
        u.cacheCreation = last('cache_creation_input_tokens');
        const inT = last('input_tokens');
        if (inT !== undefined) u.input = inT + (u.cacheRead ?? 0) + (u.cacheCreation ?? 0);
        u.output = last('output_tokens');
        if (stringField(head, 'type') === 'error') s.errorType = stringFields(head, 'type')[1] ?? 'error';
        break;
      }
      case 'gemini': {
        s.responseModel = stringField(tail, 'modelVersion', true);
        s.responseId = stringField(tail, 'responseId', true);
        for (const r of stringFields(w.text(), 'finishReason')) this.addFinish(r);
        u.input = last('promptTokenCount');
        const cand = last('candidatesTokenCount');
        u.reasoning = last('thoughtsTokenCount');
        u.output = cand === undefined && u.reasoning === undefined ? undefined : (cand ?? 0) + (u.reasoning ?? 0);
        u.cacheRead = last('cachedContentTokenCount');
        break;
      }
      case 'openai_responses': {
        s.responseId = stringField(head, 'id');
        s.responseModel = stringField(head, 'model');
        const st = stringField(head, 'status');
        if (st) this.addFinish(st);
        u.input = last('input_tokens');
        u.output = last('output_tokens');
        u.cacheRead = last('cached_tokens');
        u.reasoning = last('reasoning_tokens');
        break;
      }
    }
  }
}

/*
 * Output text of one stream payload, per format: read only when capture is on (module functions,
 * not a closure per chunk).
 */
function anthropicText(p: string): string | undefined {
  const d = JSON.parse(p).delta ?? {};
  return d.text ?? d.partial_json ?? d.thinking;
}
function openaiText(p: string): string | undefined {
  const d = JSON.parse(p).choices?.[0]?.delta ?? {};
  return d.content ?? d.reasoning_content ?? d.reasoning;
}
function geminiText(p: string): string | undefined {
  const parts = JSON.parse(p).candidates?.[0]?.content?.parts ?? [];
  return parts.map((x: { text?: string }) => x.text ?? '').join('');
}
function responsesText(p: string): string | undefined {
  return JSON.parse(p).delta;
}

/**
 * Whether `"key": "…"` holds a non-empty string (or, with `emptyOk`, any string) at its first
 * occurrence: indexOf and a few character looks, cheaper than a regular expression per chunk.
 */
function hasStringValue(p: string, quotedKey: string, emptyOk = false): boolean {
  const i = p.indexOf(quotedKey);
  if (i < 0) return false;
  let j = i + quotedKey.length;
  while (j < p.length && p.charCodeAt(j) !== 58 /* : */) if (p.charCodeAt(j++) > 32) return false;
  j++;
  while (j < p.length && p.charCodeAt(j) <= 32) j++;
  if (p.charCodeAt(j) !== 34 /* " */) return false;
  return emptyOk || p.charCodeAt(j + 1) !== 34;
}

/**
 * Bytes of `b` up to an incomplete UTF-8 sequence at its end (at most 3 bytes are cut); all of it
 * when it ends complete. Invalid bytes are left to the decoder (U+FFFD).
 */
function completeUtf8Length(b: Buffer): number {
  const n = b.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const c = b[i];
    if (c < 0x80) return n;
    if (c >= 0xc0) {
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return i + need > n ? i : n;
    }
    // a continuation byte: its lead is further back
  }
  return n;
}

const USAGE_NULL = /"usage"\s*:\s*null/;
