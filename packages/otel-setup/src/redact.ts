import type { Context } from '@opentelemetry/api';
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
