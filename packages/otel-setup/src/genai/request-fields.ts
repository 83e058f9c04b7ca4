import { boolField, numberField, stringField, type JsonWindow } from './json-window';

/** What a generation request asks for, read from the bounded window of its JSON body. */
export interface RequestFields {
  model?: string;
  stream?: boolean;
  maxTokens?: number;
  temperature?: number;
}

const MAX_TOKENS_KEYS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'maxOutputTokens'];

/**
 * Model first from the head (clients put it first); the rest from head or tail (Claude Code puts them
 * last). `skip` leaves out fields the caller already knows (not looked for).
 */
export function requestFields(w: JsonWindow, skip?: { maxTokens?: boolean; temperature?: boolean }): RequestFields {
  const head = w.headText();
  const tail = w.tailText();
  const out: RequestFields = {};
  const model = stringField(head, 'model') ?? (tail ? stringField(tail, 'model') : undefined);
  if (model) out.model = model;
  const stream = boolField(head, 'stream') ?? (tail ? boolField(tail, 'stream') : undefined);
  if (stream !== undefined) out.stream = stream;
  if (!skip?.maxTokens) for (const k of MAX_TOKENS_KEYS) {
    const n = numberField(head, k) ?? (tail ? numberField(tail, k) : undefined);
    if (n !== undefined && Number.isInteger(n)) {
      out.maxTokens = n;
      break;
    }
  }
  if (skip?.temperature) return out;
  const t = numberField(head, 'temperature') ?? (tail ? numberField(tail, 'temperature') : undefined);
  if (t !== undefined) out.temperature = t;
  return out;
}
