/**
 * Upstream failures as low-cardinality `error.type` values a user can act on:
 *
 * | error.type         | when                                                                  |
 * |--------------------|-----------------------------------------------------------------------|
 * | `429`, `503`, …    | the upstream answered with that HTTP status (>= 400)                  |
 * | `timeout`          | connect / headers / body timeout, or an AbortSignal.timeout() firing  |
 * | `connection_error` | refused, reset, DNS failure, socket closed, TLS failure               |
 * | `aborted`          | the caller aborted the upstream request (not a client cancel)         |
 * | error name         | anything else (e.g. `TypeError`)                                      |
 */
export type UpstreamErrorType = string;

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED']);
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** error.type of a thrown upstream error (undici's request:error, http's request error). */
export function errorTypeOf(error: unknown): UpstreamErrorType {
  if (!error || typeof error !== 'object') return 'error';
  const e = error as { name?: unknown; code?: unknown; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (name === 'TimeoutError' || (code && TIMEOUT_CODES.has(code))) return 'timeout';
  if (code && CONNECTION_CODES.has(code)) return 'connection_error';
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    // an abort carrying a timeout as its reason is a timeout
    if (e.cause && typeof e.cause === 'object' && (e.cause as { name?: unknown }).name === 'TimeoutError') return 'timeout';
    return 'aborted';
  }
  if (e.cause && e.cause !== error) {
    const c = errorTypeOf(e.cause);
    if (c === 'timeout' || c === 'connection_error') return c;
  }
  return name;
}

/** error.type of an upstream HTTP status, or undefined below 400. */
export function errorTypeOfStatus(status: number): UpstreamErrorType | undefined {
  return status >= 400 ? String(status) : undefined;
}
