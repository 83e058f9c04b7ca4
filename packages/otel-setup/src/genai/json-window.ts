/**
 * A bounded view of a JSON body seen in chunks: its first `headBytes` and its last `tailBytes`, never
 * more. LLM request and response bodies put the fields we want at the start (model, id) or at the end
 * (usage, stop reason, Claude Code's max_tokens / stream) and can be megabytes in between.
 *
 * Fields are read with anchored regular expressions on that text. A key inside a JSON string is
 * escaped (`\"model\"`), so `"model"` only matches a real key.
 */
export class JsonWindow {
  private head: Buffer[] = [];
  private headLen = 0;
  private tail: Buffer | undefined;
  /** Bytes seen. */
  total = 0;

  /** `copy` false keeps references to the head chunks: only for callers whose buffers are never reused. */
  constructor(
    private readonly headBytes = 8192,
    private readonly tailBytes = 4096,
    private readonly copy = true,
  ) {}

  write(chunk: Uint8Array): void {
    this.total += chunk.byteLength;
    let b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.headLen < this.headBytes) {
      const take = Math.min(b.length, this.headBytes - this.headLen);
      const part = take === b.length ? b : b.subarray(0, take);
      this.head.push(this.copy ? Buffer.from(part) : part);
      this.headLen += take;
      if (take === b.length) return;
      b = b.subarray(take);
    }
    if (this.tailBytes <= 0) return;
    if (b.length >= this.tailBytes) this.tail = Buffer.from(b.subarray(b.length - this.tailBytes));
    else {
      const prev = this.tail;
      const keep = prev ? Math.min(prev.length, this.tailBytes - b.length) : 0;
      this.tail = prev && keep ? Buffer.concat([prev.subarray(prev.length - keep), b]) : Buffer.from(b);
    }
  }

  /** The head as text (the whole body when it fit). */
  headText(): string {
    if (this.head.length > 1) this.head = [Buffer.concat(this.head)];
    return this.head.length ? this.head[0].toString('utf8') : '';
  }

  /** The tail as text; empty when the body fit in the head. */
  tailText(): string {
    return this.tail ? this.tail.toString('utf8') : '';
  }

  /** Head and tail as one text when they are contiguous (the body fit), else separated by a gap marker. */
  text(): string {
    const t = this.tailText();
    if (!t) return this.headText();
    const gap = this.total > this.headLen + (this.tail?.length ?? 0);
    return this.headText() + (gap ? '\n…\n' : '') + t;
  }
}

const cache = new Map<string, RegExp[]>();

function patterns(key: string): RegExp[] {
  let p = cache.get(key);
  if (!p) {
    const k = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    p = [
      new RegExp(`"${k}"\\s*:\\s*"((?:[^"\\\\]|\\\\.){0,512})"`, 'g'),
      new RegExp(`"${k}"\\s*:\\s*(-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?|true|false)`, 'g'),
    ];
    cache.set(key, p);
  }
  return p;
}

/** The first (or last) string value of `"key": "…"` in text. */
export function stringField(text: string, key: string, last = false): string | undefined {
  if (text.indexOf(`"${key}"`) < 0) return undefined;
  const re = patterns(key)[0];
  re.lastIndex = 0;
  let out: string | undefined;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out = m[1].indexOf('\\') >= 0 ? unescape(m[1]) : m[1];
    if (!last) break;
  }
  return out;
}

/** The first (or last) number of `"key": 123` in text. */
export function numberField(text: string, key: string, last = false): number | undefined {
  if (text.indexOf(`"${key}"`) < 0) return undefined;
  const re = patterns(key)[1];
  re.lastIndex = 0;
  let out: number | undefined;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    if (Number.isFinite(n)) out = n;
    if (!last && out !== undefined) break;
  }
  return out;
}

/** The first boolean of `"key": true|false` in text. */
export function boolField(text: string, key: string): boolean | undefined {
  if (text.indexOf(`"${key}"`) < 0) return undefined;
  const re = patterns(key)[1];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1] === 'true') return true;
    if (m[1] === 'false') return false;
  }
  return undefined;
}

/** Every distinct string value of `"key": "…"` in text (at most `max`). */
export function stringFields(text: string, key: string, max = 8): string[] {
  const out: string[] = [];
  if (text.indexOf(`"${key}"`) < 0) return out;
  const re = patterns(key)[0];
  re.lastIndex = 0;
  for (let m = re.exec(text); m && out.length < max; m = re.exec(text)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}

function unescape(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}
