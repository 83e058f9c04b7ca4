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

/** A key's needle (`"key"`) and its value patterns, sticky: each is tried only where the needle was found. */
interface KeyPatterns {
  needle: string;
  string: RegExp;
  scalar: RegExp;
}

const cache = new Map<string, KeyPatterns>();

function patterns(key: string): KeyPatterns {
  let p = cache.get(key);
  if (!p) {
    const k = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    p = {
      needle: `"${key}"`,
      string: new RegExp(`"${k}"\\s*:\\s*"((?:[^"\\\\]|\\\\.){0,512})"`, 'y'),
      scalar: new RegExp(`"${k}"\\s*:\\s*(-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?|true|false)`, 'y'),
    };
    if (cache.size < 256) cache.set(key, p);
  }
  return p;
}

/**
 * Calls `take` with the value of each `"key": …` match in text, first to last (or last to first),
 * until it returns true. The text is searched with indexOf for the needle and the pattern is tried
 * only there: no scan of the text from its start per field.
 */
function eachMatch(text: string, p: KeyPatterns, re: RegExp, backwards: boolean, take: (v: string) => boolean): void {
  let i = backwards ? text.lastIndexOf(p.needle) : text.indexOf(p.needle);
  while (i >= 0) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m && take(m[1])) return;
    if (backwards) i = i > 0 ? text.lastIndexOf(p.needle, i - 1) : -1;
    else i = text.indexOf(p.needle, i + 1);
  }
}

/** The first (or last) string value of `"key": "…"` in text. */
export function stringField(text: string, key: string, last = false): string | undefined {
  const p = patterns(key);
  let out: string | undefined;
  eachMatch(text, p, p.string, last, (v) => ((out = v.indexOf('\\') >= 0 ? unescape(v) : v), true));
  return out;
}

/** The first (or last) number of `"key": 123` in text. */
export function numberField(text: string, key: string, last = false): number | undefined {
  const p = patterns(key);
  let out: number | undefined;
  eachMatch(text, p, p.scalar, last, (v) => {
    const n = Number(v);
    if (!Number.isFinite(n)) return false;
    out = n;
    return true;
  });
  return out;
}

/** The first boolean of `"key": true|false` in text. */
export function boolField(text: string, key: string): boolean | undefined {
  const p = patterns(key);
  let out: boolean | undefined;
  eachMatch(text, p, p.scalar, false, (v) => {
    if (v === 'true') out = true;
    else if (v === 'false') out = false;
    return out !== undefined;
  });
  return out;
}

/** Every distinct string value of `"key": "…"` in text (at most `max`). */
export function stringFields(text: string, key: string, max = 8): string[] {
  const out: string[] = [];
  const p = patterns(key);
  eachMatch(text, p, p.string, false, (v) => {
    if (!out.includes(v)) out.push(v);
    return out.length >= max;
  });
  return out;
}

function unescape(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}
