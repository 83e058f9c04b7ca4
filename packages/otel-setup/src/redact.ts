/**
 * The one redaction mechanism. Every path that leaves the process goes through a Redactor: log
 * bodies and attributes (RedactingLogRecordProcessor), span attributes, events, links and status
 * (RedactingSpanProcessor), captured stdout lines, exception messages and stacks (they are
 * attributes), resource attributes (resource.ts) and URLs anywhere (they are strings).
 *
 * Two checks, both cheap on the hot path:
 * - a key name is secret when its normalized spelling (lowercase, without `-`, `_`, `.`, spaces)
 *   ends with one of the secret words (api_key, APIKEY, anthropicApiKey, x-api-key, client_secret,
 *   http.request.header.authorization …) and is not a count (gen_ai.usage.input_tokens, max_tokens,
 *   token_count): its whole value is replaced. Verdicts are cached per raw key (bounded).
 * - a string value is scanned once by one precompiled regular expression of secret shapes (Bearer /
 *   Basic credentials, sk-, sk-ant-, sk-or-, AIza, xai-, gsk_, hf_, ghp_/github_pat_, AKIA, JWTs,
 *   PEM private keys), URL userinfo is looked for after each `://`, and `name=value` / `name: value` pairs whose name is a
 *   secret key (query parameters, headers written as text, JSON in a string). A string without
 *   `=`, `:` or a candidate prefix costs a few character tests.
 *
 * Extensible from the config file: `redaction: { keys: [...], patterns: [...] }` (extra key names,
 * extra regular expression sources for values).
 */
import type { AnyValue } from '@opentelemetry/api';
// the encoder's own module (no SDK behind it): the config's light path loads this file too
import { CIRCULAR_MARKER } from '@ccr/otel-processors/dist/otlp-encoder';

/** What replaces a secret value (a whole attribute value, or a span of text). */
export const REDACTED = '[REDACTED]';
/** What replaces a secret inside a URL (userinfo, query parameter value): stays a valid URL. */
export const REDACTED_IN_URL = 'REDACTED';

/**
 * Secret words, as normalized suffixes of a key name (lowercase, separators removed). A key whose
 * normalized name ends with one of them is secret: apikey covers api_key, API-KEY, anthropicApiKey,
 * x-api-key, x-goog-api-key; token covers accessToken, refresh_token, x-amz-security-token.
 */
export const DEFAULT_SECRET_KEYS: readonly string[] = [
  'apikey',
  'apikeys',
  'accesskey',
  'accesskeyid',
  'secretkey',
  'privatekey',
  'secret',
  'secrets',
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'pwd',
  'token',
  'authorization',
  'auth',
  'cookie',
  'cookies',
  'credential',
  'credentials',
  'session',
  'sessionid',
  'signature',
];

/** Extra names that are secret as URL query parameters only (`?key=…`, `&sig=…`), where they mean it. */
const URL_PARAM_KEYS: readonly string[] = ['key', 'sig', 'code'];

/** Normalized names ending with `token` that are counts or limits, never secrets (and any *usage*…token). */
const NOT_SECRET_SUFFIXES: readonly string[] = [
  'inputtoken',
  'outputtoken',
  'prompttoken',
  'completiontoken',
  'totaltoken',
  'maxtoken',
  'reasoningtoken',
  'cachedtoken',
  'nexttoken',
  'pagetoken',
];

/**
 * Secret value shapes (regular expression sources). Each match is replaced as a whole, except that an
 * authorization scheme (Bearer, Basic …) and a URL scheme are kept.
 */
export const DEFAULT_SECRET_PATTERNS: readonly string[] = [
  // a credential after Bearer/Basic has a digit, a capital or a symbol: "Basic authentication failed" is text
  String.raw`\b(?:[Bb]earer|BEARER|[Bb]asic|BASIC)\s+(?=[a-z]*[0-9A-Z._~+/-])[A-Za-z0-9._~+/-]{6,}=*`,
  String.raw`\bsk-[A-Za-z0-9_-]{10,}`, // OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-), DeepSeek …
  String.raw`\bAIza[0-9A-Za-z_-]{20,}`, // Google
  String.raw`\bxai-[A-Za-z0-9_-]{20,}`, // xAI
  String.raw`\bgsk_[A-Za-z0-9]{20,}`, // Groq
  String.raw`\bhf_[A-Za-z0-9]{20,}`, // Hugging Face
  String.raw`\bgh[pousr]_[A-Za-z0-9]{20,}`, // GitHub tokens
  String.raw`\bgithub_pat_[A-Za-z0-9_]{20,}`,
  String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`, // AWS access key ids
  String.raw`\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*`, // JWT
  String.raw`-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)`,
];

/**
 * What every built-in pattern starts with (or holds): a string without any of these cannot match
 * one, so the full expression is not run. Literal alternatives only: several times cheaper to scan.
 */
const BUILTIN_TRIGGER = String.raw`sk-|AIza|xai-|gsk_|hf_|gh[pousr]_|github_pat_|AKIA|ASIA|eyJ|-----BEGIN|[Bb]earer|BEARER|[Bb]asic|BASIC`;

export interface RedactionOptions {
  /** Extra secret key names, in any spelling (normalized like the built-in ones). Default none. */
  keys?: readonly string[];
  /** Extra regular expression sources for secret values (matched case-sensitively). Default none. */
  patterns?: readonly string[];
}

/** Normalized spelling of a key: lowercase, without `-`, `_`, `.` and spaces. */
export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}

/** Problems with redaction options (for config validation), as "path: what is wrong"; undefined when valid. */
export function redactionOptionsProblem(o: unknown, path = 'redaction'): string | undefined {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return `${path}: must be an object with keys and/or patterns`;
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'keys' && k !== 'patterns') return `${path}.${k}: unknown setting (known: keys, patterns)`;
    if (!Array.isArray(v)) return `${path}.${k}: must be an array of strings, got ${JSON.stringify(v)}`;
    for (let i = 0; i < v.length; i++) {
      const s = v[i];
      if (typeof s !== 'string' || s.trim() === '') return `${path}.${k}[${i}]: must be a non-empty string, got ${JSON.stringify(s)}`;
      if (k === 'keys' && normalizeKey(s) === '') return `${path}.${k}[${i}]: names no key, got ${JSON.stringify(s)}`;
      if (k === 'patterns') {
        try {
          new RegExp(s);
        } catch (e) {
          return `${path}.${k}[${i}]: not a valid regular expression (${(e as Error).message})`;
        }
        if (new RegExp(`(?:${s})`).test('')) return `${path}.${k}[${i}]: matches the empty string, got ${JSON.stringify(s)}`;
      }
    }
  }
  return undefined;
}

const SCHEME = /^(?:[Bb]earer|BEARER|[Bb]asic|BASIC|[Dd]igest|[Tt]oken)\s+/;
const MAX_CACHE = 4096;
const MAX_CLEAN_LENGTH = 96;
const MAX_DEPTH = 16;
const MAX_NAME = 64;

type AnyValueMap = { [key: string]: AnyValue };

/** Characters a key name in text may hold (walked back from a `:` or `=`). */
function isNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 65 && c <= 90) || // A-Z
    (c >= 48 && c <= 57) || // 0-9
    c === 95 || // _
    c === 45 || // -
    c === 46 // .
  );
}

/** Where an unquoted value in text ends. */
function isValueEnd(c: number, eq: boolean): boolean {
  return (
    c === 32 || c === 9 || c === 10 || c === 13 || // whitespace
    c === 34 || c === 39 || c === 92 || // " ' \
    c === 38 || c === 44 || c === 59 || // & , ;
    c === 125 || c === 93 || c === 41 || c === 60 || c === 62 || // } ] ) < >
    (eq && c === 35) // # ends a query
  );
}

/**
 * Finds secret keys and values. One instance is shared by every path (see `redactor`); configure()
 * replaces the compiled state at once, so a change from the config file applies to the next record.
 */
export class Redactor {
  private suffixes: string[] = [];
  private paramSuffixes: string[] = [];
  private valueRe: RegExp = /(?!)/g;
  private triggerRe: RegExp = /(?!)/;
  /** The last two letters of every secret word (param words included), as (a << 8 | b): a look before a slice. */
  private tails = new Set<number>();
  private readonly keyCache = new Map<string, boolean>();
  private readonly paramCache = new Map<string, boolean>();
  /** Short strings found clean: attribute values repeat (methods, paths, models, phase names). */
  private readonly clean = new Set<string>();

  constructor(options: RedactionOptions = {}) {
    this.configure(options);
  }

  /** Replaces the extra keys and patterns (the built-in ones always stay). Throws on an invalid pattern. */
  configure(options: RedactionOptions = {}): void {
    const problem = redactionOptionsProblem({ keys: options.keys ?? [], patterns: options.patterns ?? [] });
    if (problem) throw new Error(problem);
    const keys = [...DEFAULT_SECRET_KEYS, ...(options.keys ?? []).map(normalizeKey)];
    const patterns = [...DEFAULT_SECRET_PATTERNS, ...(options.patterns ?? [])];
    this.suffixes = [...new Set(keys)];
    this.paramSuffixes = [...new Set([...keys, ...URL_PARAM_KEYS])];
    this.valueRe = new RegExp(patterns.map((p) => `(?:${p})`).join('|'), 'g');
    // extra patterns have no known prefix: they are part of the trigger as they are
    this.triggerRe = new RegExp([BUILTIN_TRIGGER, ...(options.patterns ?? []).map((p) => `(?:${p})`)].join('|'));
    this.tails = new Set(this.paramSuffixes.filter((k) => k.length >= 2).map((k) => (k.charCodeAt(k.length - 2) << 8) | k.charCodeAt(k.length - 1)));
    this.keyCache.clear();
    this.paramCache.clear();
    this.clean.clear();
  }

  /** Whether a key name (attribute, map key, header) is secret, in any spelling. */
  isSecretKey(key: string): boolean {
    let v = this.keyCache.get(key);
    if (v === undefined) {
      v = this.derive(key, this.suffixes);
      if (this.keyCache.size < MAX_CACHE) this.keyCache.set(key, v);
    }
    return v;
  }

  /** Whether a URL query parameter (or `name=value` in text) names a secret: the keys plus key, sig, code. */
  isSecretParam(name: string): boolean {
    let v = this.paramCache.get(name);
    if (v === undefined) {
      v = this.derive(name, this.paramSuffixes);
      if (this.paramCache.size < MAX_CACHE) this.paramCache.set(name, v);
    }
    return v;
  }

  private derive(key: string, suffixes: string[]): boolean {
    let n = normalizeKey(key);
    if (n.indexOf('%') >= 0) {
      try {
        n = normalizeKey(decodeURIComponent(key));
      } catch {
        /* keep it encoded */
      }
    }
    if (n === '') return false;
    if (n.endsWith('token') && (n.indexOf('usage') >= 0 || NOT_SECRET_SUFFIXES.some((s) => n.endsWith(s)))) return false;
    for (const s of suffixes) if (n.endsWith(s)) return true;
    return false;
  }

  /** A string with every secret in it replaced; the same string when there is none. */
  redactText(s: string): string {
    if (s.length < 6) return s;
    const short = s.length <= MAX_CLEAN_LENGTH;
    if (short && this.clean.has(s)) return s;
    let out = s;
    if (this.triggerRe.test(s)) {
      const re = this.valueRe;
      re.lastIndex = 0;
      out = s.replace(re, replaceMatch);
    }
    if (out.indexOf(':') >= 0) out = redactUserinfo(out);
    if (out.indexOf('=') >= 0 || out.indexOf(':') >= 0) out = this.redactPairs(out);
    if (short && out === s) {
      if (this.clean.size >= MAX_CACHE) this.clean.clear();
      this.clean.add(s);
    }
    return out;
  }

  /**
   * `name=value` and `name: value` (also quoted, as in JSON or escaped JSON) whose name is a secret:
   * the value is replaced, an authorization scheme before it is kept.
   */
  private redactPairs(s: string): string {
    let out: string[] | undefined;
    let copied = 0;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c !== 58 /* : */ && c !== 61 /* = */) continue;
      const eq = c === 61;
      // the name before the separator, possibly quoted ("name": or \"name\":)
      let end = i;
      while (end > 0 && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--;
      if (end > 0 && (s.charCodeAt(end - 1) === 34 || s.charCodeAt(end - 1) === 39)) end--;
      if (end > 0 && s.charCodeAt(end - 1) === 92) end--;
      // a name whose last two letters end no secret word is not looked up (no slice, no hash)
      if (end < 2 || !this.tails.has(((s.charCodeAt(end - 2) | 32) << 8) | (s.charCodeAt(end - 1) | 32))) continue;
      let start = end;
      while (start > 0 && end - start < MAX_NAME && isNameChar(s.charCodeAt(start - 1))) start--;
      if (start === end) continue;
      const name = s.slice(start, end);
      if (!(eq ? this.isSecretParam(name) : this.isSecretKey(name))) continue;
      // the value after it
      let v = i + 1;
      if (!eq) while (v < n && (s.charCodeAt(v) === 32 || s.charCodeAt(v) === 9)) v++;
      let quote = 0;
      if (v < n && s.charCodeAt(v) === 92 && s.charCodeAt(v + 1) === 34) v++; // \"
      if (v < n && (s.charCodeAt(v) === 34 || s.charCodeAt(v) === 39)) quote = s.charCodeAt(v++);
      const scheme = SCHEME.exec(s.slice(v, v + 16));
      if (scheme) v += scheme[0].length;
      if (v >= n) continue;
      const first = s.charCodeAt(v);
      // an object or array in text is left to its own keys; a value already redacted stays
      if (first === 123 /* { */ || first === 91 /* [ */ || s.startsWith(REDACTED_IN_URL, v)) continue;
      let e = v;
      if (quote) {
        while (e < n && s.charCodeAt(e) !== quote && !(s.charCodeAt(e) === 92 && s.charCodeAt(e + 1) === quote)) e++;
      } else {
        while (e < n && !isValueEnd(s.charCodeAt(e), eq)) e++;
      }
      if (e === v) continue;
      (out ??= []).push(s.slice(copied, v), eq ? REDACTED_IN_URL : REDACTED);
      copied = e;
      i = e - 1;
    }
    if (!out) return s;
    out.push(s.slice(copied));
    return out.join('');
  }

  /**
   * A value (string, array, map at any depth) with secrets replaced: values under secret keys whole,
   * strings by redactText. The same value when clean; otherwise a copy (the input is never changed).
   * Deeper than 16 levels a value is replaced by "[REDACTED]": nothing is let through unchecked.
   */
  redactValue(v: AnyValue, depth = 0): AnyValue {
    if (typeof v === 'string') return this.redactText(v);
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return v;
    if (depth > 0) return this.redactObject(v, depth);
    // A cycle (a map holding itself) is kept as it is when the value is clean: the encoder cuts it
    // with a marker and counts it. When something was redacted, the copies would point back into
    // the original, secrets and all: then each cycle becomes the marker here.
    this.ancestors.length = 0;
    this.cycles = 'keep';
    this.sawCycle = false;
    const r = this.redactObject(v, 0);
    if (!this.sawCycle || r === v) return r;
    this.ancestors.length = 0;
    this.cycles = 'mark';
    return this.redactObject(v, 0);
  }

  private readonly ancestors: object[] = [];
  private cycles: 'keep' | 'mark' = 'keep';
  private sawCycle = false;

  private redactObject(v: object, depth: number): AnyValue {
    if (depth >= MAX_DEPTH) return REDACTED;
    if (this.ancestors.includes(v)) {
      this.sawCycle = true;
      return this.cycles === 'keep' ? (v as AnyValue) : CIRCULAR_MARKER;
    }
    this.ancestors.push(v);
    if (Array.isArray(v)) {
      let out: AnyValue[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const r = this.redactValue(v[i], depth + 1);
        if (r !== v[i]) (out ??= v.slice())[i] = r;
      }
      this.ancestors.pop();
      return out ?? v;
    }
    let out: AnyValueMap | undefined;
    const map = v as AnyValueMap;
    for (const k of Object.keys(map)) {
      const cur = map[k];
      const r = this.redactEntry(k, cur, depth + 1);
      if (r !== cur) (out ??= { ...map })[k] = r;
    }
    this.ancestors.pop();
    return out ?? (v as AnyValue);
  }

  /** The value of `key` as it may leave the process: whole-redacted under a secret key, else scanned. */
  redactEntry(key: string, value: AnyValue, depth = 0): AnyValue {
    if (this.isSecretKey(key)) {
      // a flag (auth: true) or nothing is not a secret
      return value === null || value === undefined || typeof value === 'boolean' || value === REDACTED ? value : REDACTED;
    }
    return typeof value === 'string' ? this.redactText(value) : typeof value === 'object' ? this.redactValue(value, depth) : value;
  }

  /**
   * Command-line arguments (process.command_args): `--password=x` and `--token x` have their values
   * replaced, and every argument is scanned as text.
   */
  redactArgs(args: readonly string[]): string[] {
    const out = args.slice();
    for (let i = 0; i < out.length; i++) {
      const a = out[i];
      const m = /^(--?[A-Za-z][\w.-]*)(=?)(.*)$/s.exec(a);
      if (m && this.isSecretKey(m[1].replace(/^-+/, ''))) {
        if (m[2]) out[i] = `${m[1]}=${REDACTED}`;
        else if (i + 1 < out.length && !out[i + 1].startsWith('-')) out[++i] = REDACTED;
        continue;
      }
      out[i] = this.redactText(a);
    }
    return out;
  }
}

function replaceMatch(m: string): string {
  const scheme = SCHEME.exec(m);
  return scheme ? scheme[0] + REDACTED : REDACTED;
}

const USERINFO = `${REDACTED_IN_URL}:${REDACTED_IN_URL}`;

/** `scheme://user:password@host` → `scheme://REDACTED:REDACTED@host`, for every `://` in the text. */
function redactUserinfo(s: string): string {
  let p = s.indexOf('://');
  if (p < 0) return s;
  let out = '';
  let copied = 0;
  while (p >= 0) {
    const from = p + 3;
    let e = from;
    // the authority ends at / ? # or anything that cannot be in it; an @ before that ends userinfo
    for (; e < s.length; e++) {
      const c = s.charCodeAt(e);
      if (c === 64 || c === 47 || c === 63 || c === 35 || c <= 32 || c === 34 || c === 39 || c === 60 || c === 62 || c === 92) break;
    }
    if (e < s.length && s.charCodeAt(e) === 64 && e > from && s.slice(from, e) !== USERINFO) {
      out += s.slice(copied, from) + USERINFO;
      copied = e;
    }
    p = s.indexOf('://', e);
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** The redactor every path uses; Telemetry configures it from `redaction` in the configuration. */
export const redactor = new Redactor();

/** redactor.redactText for URLs: userinfo and secret query parameters (key, token, signature, sig, …). */
export function redactUrl(url: string): string {
  return redactor.redactText(url);
}

/** Query parameter names the http instrumentation replaces itself (it matches exact names). */
export const SECRET_QUERY_PARAMS: string[] = [
  'key',
  'api_key',
  'apikey',
  'api-key',
  'x-api-key',
  'access_token',
  'token',
  'auth',
  'password',
  'secret',
  'client_secret',
  'sig',
  'signature',
  'Signature',
  'AWSAccessKeyId',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'X-Goog-Signature',
  'code',
];
