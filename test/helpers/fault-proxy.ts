/**
 * A fault proxy: a node:http server on 127.0.0.1 in front of a collector's OTLP/HTTP port, whose
 * behaviour is switched at run time (a fake: users never run one). Modes:
 * - `forward`: passes each request to the collector and its answer back;
 * - `503`: answers 503 with `Retry-After: 2`, `429`: 429 with `Retry-After: 1` (the collector sees nothing);
 * - `blackhole`: accepts the request and never answers (the socket is held until the client gives up);
 * - `slow`: forwards, then holds the collector's answer for 2 s.
 * Every request is logged with its path, arrival time and the mode that handled it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode = 'forward' | '503' | '429' | 'blackhole' | 'slow';

export interface ProxiedRequest {
  path: string;
  at: number;
  mode: FaultMode;
}

export interface FaultProxy {
  /** e.g. http://127.0.0.1:41234 (no /v1/...): give it as OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  mode: FaultMode;
  /** Every request received, in order. */
  requests: ProxiedRequest[];
  /** Requests for `path` that arrived in [from, to). */
  count(path: string, from: number, to: number): number;
  /** Closes the server and every connection (held ones included). */
  close(): Promise<void>;
}

/** How long `slow` holds each answer. */
export const SLOW_ANSWER_MILLIS = 2000;

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const timers = new Set<NodeJS.Timeout>();

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, delayMs: number) => {
    const headers = { ...req.headers, host: upstream.host };
    delete headers.connection;
    const out = http.request(
      { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const answer = () => {
            if (res.destroyed) return;
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(Buffer.concat(chunks));
          };
          if (delayMs <= 0) return answer();
          const t = setTimeout(() => {
            timers.delete(t);
            answer();
          }, delayMs);
          timers.add(t);
        });
        up.on('error', () => res.destroy());
      },
    );
    // the collector is unreachable: the client sees its connection dropped, as it would without us
    out.on('error', () => res.destroy());
    out.end(body);
  };

  const server = http.createServer((req, res) => {
    const mode = proxy.mode;
    proxy.requests.push({ path: req.url ?? '', at: Date.now(), mode });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      switch (mode) {
        case '503':
          res.writeHead(503, { 'retry-after': '2', 'content-type': 'text/plain' });
          return res.end('unavailable');
        case '429':
          res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' });
          return res.end('too many requests');
        case 'blackhole':
          return; // never answered: the socket stays open until the client gives up or close()
        case 'slow':
          return forward(req, body, res, SLOW_ANSWER_MILLIS);
        default:
          return forward(req, body, res, 0);
      }
    });
  });
  // a held request must not be cut by the server's own timeouts
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const proxy: FaultProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    mode: 'forward',
    requests: [],
    count: (path, from, to) => proxy.requests.filter((r) => r.path === path && r.at >= from && r.at < to).length,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
  return proxy;
}
