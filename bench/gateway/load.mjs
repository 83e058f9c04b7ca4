// A fixed-rate, open-loop load generator: request i is due at start + i/rate whatever happened to
// the ones before it, and its latency counts from that due time (no coordinated omission).
// autocannon's overallRate sends each second's quota in a burst at the start of the second, which
// measures queueing behind the burst rather than the gateway: hence this small one.
import { Agent, request } from 'node:http';

/**
 * @param {{ port: number, path: string, rate: number, durationMs: number, bodies: Buffer[],
 *   headers: Record<string, string>, timeoutMs?: number, agent?: Agent }} o
 * @returns {Promise<{ sent: number, ok: number, failed: number, latenciesMs: Float64Array }>}
 */
export function drive(o) {
  const total = Math.max(1, Math.round((o.rate * o.durationMs) / 1000));
  // a caller's agent (kept across calls, so its connections stay open) is not destroyed here
  const agent = o.agent ?? newAgent();
  const latencies = new Float64Array(total);
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let done = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    const finish = () => {
      if (++done < total) return;
      if (!o.agent) agent.destroy();
      resolve({ sent, ok, failed, latenciesMs: latencies.subarray(0, ok) });
    };
    const send = (i) => {
      const due = start + (i * 1000) / o.rate;
      const body = o.bodies[i % o.bodies.length];
      const req = request(
        { agent, host: '127.0.0.1', port: o.port, method: 'POST', path: o.path, headers: { ...o.headers, 'content-length': body.length } },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            if (res.statusCode === 200) latencies[ok++] = performance.now() - due;
            else failed++;
            finish();
          });
          res.on('error', () => (failed++, finish()));
        },
      );
      req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => (failed++, finish()));
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * o.rate) / 1000) + 1);
      while (sent < due) send(sent++);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

/** The keep-alive agent drive() uses when given none. */
export function newAgent() {
  return new Agent({ keepAlive: true, maxSockets: 1024 });
}

/** p in [0, 100] of a sample, by nearest rank. */
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
