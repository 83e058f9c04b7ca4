import type { IncomingMessage } from 'node:http';
import type { Attributes } from '@opentelemetry/api';
import { redactUrl } from './redact';

/**
 * The attributes of an HTTP server span and of its http.server.request.duration record, after the
 * stable HTTP semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/),
 * the same set instrumentation-http sets. Request tracking makes the server span itself
 * (request-tracking.ts): instrumentation-http's incoming side does work we did again (its span,
 * attributes from a parsed URL, a histogram record hashed per request) and binds two EventEmitters per
 * request (a wrapper per listener, and own properties that give node's request and response objects a
 * second shape). What it saves is in README *Performance* (gateway).
 */

/** Methods kept as they are in http.request.method; any other is `_OTHER` (and kept in http.request.method_original). */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);

export function normalizeMethod(method: string): string {
  if (KNOWN_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

/** url.scheme of a server request: by its socket. */
export function schemeOf(req: IncomingMessage): string {
  return (req.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
}

/** The span's attributes at the request's start. `path` and `query` (without its `?`) are the request target's parts. */
export function serverSpanAttributes(req: IncomingMessage, method: string, path: string, query: string | undefined): Attributes {
  const scheme = schemeOf(req);
  const headers = req.headers;
  const socket = req.socket;
  const a: Attributes = {
    'http.request.method': method,
    'url.scheme': scheme,
    'url.path': path,
    'network.protocol.version': req.httpVersion,
  };
  if (method !== req.method && req.method) a['http.request.method_original'] = req.method;
  if (query) a['url.query'] = redactUrl(`?${query}`).slice(1);
  const peer = socket?.remoteAddress;
  if (peer) {
    a['network.peer.address'] = peer;
    a['network.peer.port'] = socket.remotePort;
  }
  const forwarded = headers.forwarded === undefined ? undefined : firstForwarded(headers.forwarded);
  const server = serverAddress(forwarded, headers, scheme);
  if (server) {
    a['server.address'] = server.host;
    if (server.port !== undefined) a['server.port'] = server.port;
  }
  const client = forwarded?.for !== undefined ? withoutPort(forwarded.for) : forwardedFor(headers['x-forwarded-for']) ?? peer;
  if (client) a['client.address'] = client;
  const ua = headers['user-agent'];
  if (ua !== undefined) a['user_agent.original'] = ua;
  return a;
}

/**
 * error.type of a server span by its status, as the HTTP semconv sets it: a 5xx only. Request tracking
 * also fails a request that answers 4xx (a gateway's 429 from its upstream is a failure): such a span
 * gets the status (or the upstream's error class) as error.type from the tracker.
 */
export function serverErrorType(status: number): string | undefined {
  return status >= 500 && status < 600 ? String(status) : undefined;
}

/** The semconv's advised buckets for http.server.request.duration (seconds). */
export const SERVER_DURATION_BOUNDARIES = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);

interface Forwarded {
  for?: string;
  host?: string;
  proto?: string;
}

/** The first element of a `Forwarded` header (RFC 7239): `for=…;host=…;proto=…`. */
function firstForwarded(header: string | string[]): Forwarded {
  const first = (Array.isArray(header) ? header[0] : header) ?? '';
  const end = first.indexOf(',');
  const out: Forwarded = {};
  for (const pair of (end < 0 ? first : first.slice(0, end)).split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const key = pair.slice(0, eq).trim().toLowerCase();
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (key === 'for' || key === 'host' || key === 'proto') out[key] = value;
  }
  return out;
}

function serverAddress(forwarded: Forwarded | undefined, headers: IncomingMessage['headers'], scheme: string): { host: string; port?: number } | undefined {
  if (forwarded?.host) return hostPort(forwarded.host, forwarded.proto);
  const xHost = first(headers['x-forwarded-host']);
  if (xHost) return hostPort(xHost, first(headers['x-forwarded-proto']));
  const host = headers.host;
  return host ? hostPort(host, scheme) : undefined;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** host[:port] (an IPv6 host in brackets); without a port, the scheme's default. */
function hostPort(value: string, proto: string | undefined): { host: string; port?: number } {
  const close = value.startsWith('[') ? value.indexOf(']') : -1;
  const colon = close >= 0 ? value.indexOf(':', close) : value.indexOf(':');
  if (colon >= 0 && (close >= 0 || value.indexOf(':', colon + 1) < 0)) {
    const port = Number(value.slice(colon + 1));
    return Number.isInteger(port) && port > 0 ? { host: value.slice(0, colon), port } : { host: value.slice(0, colon) };
  }
  if (proto === 'http') return { host: value, port: 80 };
  if (proto === 'https') return { host: value, port: 443 };
  return { host: value };
}

function forwardedFor(header: string | string[] | undefined): string | undefined {
  const v = first(header);
  if (!v) return undefined;
  const comma = v.indexOf(',');
  return withoutPort((comma < 0 ? v : v.slice(0, comma)).trim()) || undefined;
}

/** An address without its port: `1.2.3.4:5` → `1.2.3.4`, `[::1]:5` → `::1`; a bare IPv6 address stays. */
function withoutPort(address: string): string {
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    return close > 0 ? address.slice(1, close) : address;
  }
  const colon = address.indexOf(':');
  return colon >= 0 && address.indexOf(':', colon + 1) < 0 ? address.slice(0, colon) : address;
}
