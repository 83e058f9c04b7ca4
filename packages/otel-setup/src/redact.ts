import type { AnyValue, Context } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/** Headers never recorded anywhere. */
export const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'proxy-authorization', 'cookie', 'set-cookie', 'api-key', 'x-goog-api-key']);

/** Query parameters whose values are replaced with REDACTED. */
export const SECRET_QUERY_PARAMS = [
  'key',
  'api_key',
  'apikey',
  'api-key',
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
  'X-Goog-Signature',
  'x-api-key',
];
const SECRET_PARAM_SET = new Set(SECRET_QUERY_PARAMS.map((s) => s.toLowerCase()));
const SECRET_NAME = /(^|[_-])(key|token|secret|password|passwd|auth|signature|sig|credential)s?$/i;

export function isSecretName(name: string): boolean {
  const l = name.toLowerCase();
  return SECRET_HEADERS.has(l) || SECRET_PARAM_SET.has(l) || SECRET_NAME.test(l) || l === 'apikey';
}

/** Redacts userinfo and secret-looking query parameters. Cheap when there is nothing to do. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const at = url.indexOf('@');
  if (q < 0 && at < 0) return url;
  let out = url;
  if (at >= 0) out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1REDACTED:REDACTED@');
  const qi = out.indexOf('?');
  if (qi < 0) return out;
  const hash = out.indexOf('#', qi);
  const query = out.slice(qi + 1, hash < 0 ? undefined : hash);
  const parts = query.split('&').map((p) => {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      /* keep */
    }
    return isSecretName(decoded) ? `${name}=REDACTED` : p;
  });
  return out.slice(0, qi + 1) + parts.join('&') + (hash < 0 ? '' : out.slice(hash));
}

const URL_ATTRS = ['url.full', 'http.url', 'http.target', 'url.query', 'http.client.url', 'url.original'];

/**
 * First span processor in the chain: rewrites URL attributes so that no key in a URL is recorded
 * (instrumentation-undici records url.full verbatim), and drops any attribute named after a secret
 * header (http.request.header.authorization …).
 */
export class RedactingSpanProcessor implements SpanProcessor {
  onStart(span: Span, _ctx: Context): void {
    scrub(span);
  }
  onEnding(span: Span): void {
    scrub(span);
  }
  onEnd(_span: ReadableSpan): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function scrub(span: Span): void {
  const attrs = (span as unknown as ReadableSpan).attributes;
  if (!attrs) return;
  for (const k of URL_ATTRS) {
    const v = attrs[k];
    if (typeof v === 'string') {
      const r = k === 'url.query' ? (v.startsWith('?') ? redactUrl(v) : redactUrl('?' + v).slice(1)) : redactUrl(v);
      if (r !== v) (attrs as Record<string, unknown>)[k] = r;
    }
  }
  for (const k of Object.keys(attrs)) {
    if (k.startsWith('http.request.header.') || k.startsWith('http.response.header.')) {
      const h = k.slice(k.indexOf('.header.') + 8);
      if (SECRET_HEADERS.has(h.replace(/_/g, '-'))) delete (attrs as Record<string, unknown>)[k];
    }
  }
}

export const REDACTED = '[REDACTED]';

/** Attribute keys repeat from record to record: remember the verdict (bounded) instead of re-deriving it. */
const verdicts = new Map<string, boolean>();

function isSecretHeader(key: string): boolean {
  let v = verdicts.get(key);
  if (v === undefined) {
    v = deriveSecretHeader(key);
    if (verdicts.size < 4096) verdicts.set(key, v);
  }
  return v;
}

function deriveSecretHeader(key: string): boolean {
  if (SECRET_HEADERS.has(key)) return true;
  const l = key.toLowerCase();
  if (SECRET_HEADERS.has(l)) return true;
  // flattened names: req.headers.authorization, http.request.header.x-api-key, …
  const dot = l.lastIndexOf('.');
  return dot >= 0 && SECRET_HEADERS.has(l.slice(dot + 1).replace(/_/g, '-'));
}

/** A string that looks like a URL with a query string (or userinfo): redacted as a URL. */
function redactString(v: string): string {
  if (v.indexOf('?') < 0 && v.indexOf('@') < 0) return v;
  if (v.charCodeAt(0) !== 47 /* / */ && v.indexOf('://') < 0) return v;
  return redactUrl(v);
}

type AnyValueMap = { [key: string]: AnyValue };

/** A copy of an object value with secret keys and URL keys redacted; the same object when clean. */
function redactValue(v: AnyValue, depth: number): AnyValue {
  if (typeof v === 'string') return redactString(v);
  if (typeof v !== 'object' || v === null || depth > 8 || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    let out: AnyValue[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const r = redactValue(v[i], depth + 1);
      if (r !== v[i]) (out ??= v.slice())[i] = r;
    }
    return out ?? v;
  }
  let out: AnyValueMap | undefined;
  const map = v as AnyValueMap;
  for (const k of Object.keys(map)) {
    const cur = map[k];
    const r = isSecretHeader(k) ? REDACTED : redactValue(cur, depth + 1);
    if (r !== cur) (out ??= { ...map })[k] = r;
  }
  return out ?? v;
}

/**
 * First log-record processor in the chain, before the batching one: attributes named after a secret
 * header (authorization, x-api-key, proxy-authorization, cookie, set-cookie, … in any case, also
 * flattened or nested as pino-http's req.headers.*) become "[REDACTED]", and keys in URL-looking
 * strings are redacted. Cheap: one look at each attribute key; object values are walked (copied on
 * write), strings are only looked at when they hold a '?' or '@'.
 *
 * It never asks for a record (enabled() is false): whether a record is created is up to the others.
 */
export class RedactingLogRecordProcessor implements LogRecordProcessor {
  enabled(): boolean {
    return false;
  }

  onEmit(record: ReadWriteLogRecord, _ctx?: Context): void {
    const attrs = record.attributes as Record<string, AnyValue>;
    for (const k in attrs) {
      const v = attrs[k];
      if (isSecretHeader(k)) {
        if (v !== REDACTED) record.setAttribute(k, REDACTED);
      } else if (typeof v === 'string' || (typeof v === 'object' && v !== null)) {
        const r = redactValue(v, 0);
        if (r !== v) record.setAttribute(k, r);
      }
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
