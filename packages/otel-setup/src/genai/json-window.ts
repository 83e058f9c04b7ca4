/**
 * A bounded view of a JSON body seen in chunks: its first `headBytes` and its last `tailBytes`, never
 * more. LLM request and response bodies put the fields we want at the start (model, id) or at the end
 * (usage, stop reason, Claude Code's max_tokens / stream) and can be megabytes in between.
 *
 * Fields are read right where their key's needle is found (indexOf, then the value by hand). A key inside a JSON string is
 * escaped (`\"model\"`), so `"model"` only matches a real key.
 */
export class JsonWindow {
  private head: Buffer[] = [];
  private headLen = 0;
  private tail: Buffer | undefined;
  /** headText() until the head grows again: read once, searched for several fields. */
  private headString: string | undefined;
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
      this.headString = undefined;
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
    if (this.headString !== undefined) return this.headString;
    if (this.head.length > 1) this.head = [Buffer.concat(this.head)];
    return (this.headString = this.head.length ? this.head[0].toString('utf8') : '');
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

/** `"key"`, built once per key name (a few). */
const needles = new Map<string, string>();
function needleOf(key: string): string {
  let n = needles.get(key);
  if (n === undefined) {
    n = `"${key}"`;
    if (needles.size < 256) needles.set(key, n);
  }
  return n;
}

/** What `\s` matches in a regular expression (JSON itself only uses space, tab, CR and LF). */
function isSpace(c: number): boolean {
  return (
    c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** Longest string value read (longer ones do not count as a match). */
const MAX_STRING = 512;

/** Index just past `\s*:\s*` after the needle ending at `i`, or -1. */
function valueStart(text: string, i: number): number {
  const n = text.length;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  if (i >= n || text.charCodeAt(i) !== 58 /* : */) return -1;
  i++;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The string value of `"key": "…"` whose needle ends at `i` (at most 512 characters, escapes kept), or undefined. */
function stringAt(text: string, i: number): string | undefined {
  i = valueStart(text, i);
  if (i < 0 || text.charCodeAt(i) !== 34 /* " */) return undefined;
  const from = i + 1;
  const n = text.length;
  let count = 0;
  for (let j = from; j < n; j++) {
    const c = text.charCodeAt(j);
    if (c === 34) return text.slice(from, j);
    if (++count > MAX_STRING) return undefined;
    if (c === 92 /* \ */) {
      // an escape takes the next character, whatever it is (but not a line break, as `.` does not)
      const d = text.charCodeAt(j + 1);
      if (j + 1 >= n || d === 10 || d === 13 || d === 0x2028 || d === 0x2029) return undefined;
      j++;
    }
  }
  return undefined;
}

/** The scalar of `"key": 123 | true | false` whose needle ends at `i` (as its text), or undefined. */
function scalarAt(text: string, i: number): string | undefined {
  i = valueStart(text, i);
  if (i < 0) return undefined;
  if (text.startsWith('true', i)) return 'true';
  if (text.startsWith('false', i)) return 'false';
  // -?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?
  const n = text.length;
  let j = i;
  if (text.charCodeAt(j) === 45 /* - */) j++;
  const d0 = j;
  while (j < n && isDigit(text.charCodeAt(j))) j++;
  if (j === d0) return undefined;
  if (text.charCodeAt(j) === 46 /* . */ && isDigit(text.charCodeAt(j + 1))) {
    j += 2;
    while (j < n && isDigit(text.charCodeAt(j))) j++;
  }
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69 /* e E */) {
    let k = j + 1;
    const s = text.charCodeAt(k);
    if (s === 43 || s === 45) k++;
    if (isDigit(text.charCodeAt(k))) {
      k++;
      while (k < n && isDigit(text.charCodeAt(k))) k++;
      j = k;
    }
  }
  return text.slice(i, j);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/*
 * Each reader finds the key's needle (`"key"`) with indexOf (lastIndexOf backwards) and reads the
 * value right there by hand: no scan of the text per field, no regular expression, no closure.
 */

/** The first (or last) string value of `"key": "…"` in text. */
export function stringField(text: string, key: string, last = false): string | undefined {
  const needle = needleOf(key);
  let i = last ? text.lastIndexOf(needle) : text.indexOf(needle);
  while (i >= 0) {
    const v = stringAt(text, i + needle.length);
    if (v !== undefined) return v.indexOf('\\') >= 0 ? unescape(v) : v;
    i = last ? (i > 0 ? text.lastIndexOf(needle, i - 1) : -1) : text.indexOf(needle, i + 1);
  }
  return undefined;
}

/** The first (or last) number of `"key": 123` in text. */
export function numberField(text: string, key: string, last = false): number | undefined {
  const needle = needleOf(key);
  let i = last ? text.lastIndexOf(needle) : text.indexOf(needle);
  while (i >= 0) {
    const v = scalarAt(text, i + needle.length);
    if (v !== undefined) {
      const n = Number(v);
      if (Number.isFinite(n)) return n;
    }
    i = last ? (i > 0 ? text.lastIndexOf(needle, i - 1) : -1) : text.indexOf(needle, i + 1);
  }
  return undefined;
}

/** The first boolean of `"key": true|false` in text. */
export function boolField(text: string, key: string): boolean | undefined {
  const needle = needleOf(key);
  let i = text.indexOf(needle);
  while (i >= 0) {
    const v = scalarAt(text, i + needle.length);
    if (v === 'true') return true;
    if (v === 'false') return false;
    i = text.indexOf(needle, i + 1);
  }
  return undefined;
}

/** Every distinct string value of `"key": "…"` in text (at most `max`). */
export function stringFields(text: string, key: string, max = 8): string[] {
  const out: string[] = [];
  const needle = needleOf(key);
  let i = text.indexOf(needle);
  while (i >= 0 && out.length < max) {
    const v = stringAt(text, i + needle.length);
    if (v !== undefined && !out.includes(v)) out.push(v);
    i = text.indexOf(needle, i + 1);
  }
  return out;
}

function unescape(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}
