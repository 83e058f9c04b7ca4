import * as http from 'node:http';
import * as path from 'node:path';
import { attr, childEnv, runChild, startSink } from './helpers';
import type { Sink } from './helpers';

const fixture = (n: string) => path.join(__dirname, 'fixtures', n);
jest.setTimeout(20000);

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENTS: Record<string, string> = { a: '00f067aa0ba902b7', b: '00f067aa0ba902b8' };

/** One call to the gateway as CCR's serve process makes it: a traceparent of its own, no client instrumentation. */
function call(port: number, marker: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'claude-test-model', marker });
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: `/gw/${marker}`,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          traceparent: `00-${TRACE_ID}-${PARENTS[marker]}-01`,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(8000, () => req.destroy(new Error(`call ${marker} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

describe('request tracking with concurrent requests sharing one incoming trace id', () => {
  let sink: Sink;
  beforeEach(async () => {
    sink = await startSink();
  });
  afterEach(async () => {
    await sink.close();
  });

  test('each server span gets exactly its own upstream phase and undici client span', async () => {
    let calls: Promise<Array<{ status: number; body: string }>> | undefined;
    // the child exits by itself once both calls are answered; runChild SIGKILLs it after timeoutMs anyway
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('gateway-same-trace.js')], childEnv(sink), {
      timeoutMs: 8000,
      onStdout: (out, kill) => {
        const m = /listening (\d+)/.exec(out);
        if (!m || calls) return;
        const port = Number(m[1]);
        calls = Promise.all([call(port, 'a'), call(port, 'b')]);
        calls.catch(() => kill('SIGKILL'));
      },
    });
    expect(calls).toBeDefined();
    const answers = await calls!;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // both upstream calls were in flight at once
    expect(r.stdout).toContain('done maxInFlight=2');
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.map((a) => JSON.parse(a.body))).toEqual([
      { path: '/up/a?marker=a', echo: 'a' },
      { path: '/up/b?marker=b', echo: 'b' },
    ]);

    const spans = sink.spans();
    for (const marker of ['a', 'b']) {
      const other = marker === 'a' ? 'b' : 'a';
      const servers = spans.filter((s) => s.kind === 2 && attr(s.attributes, 'http.route') === `/gw/${marker}`);
      expect(servers).toHaveLength(1);
      const server = servers[0];
      // the incoming traceparent was honoured: shared trace id, its own parent
      expect(server.traceId).toBe(TRACE_ID);
      expect(server.parentSpanId).toBe(PARENTS[marker]);
      expect(attr(server.attributes, 'ccr.upstream.count')).toBe(1);
      expect(attr(server.attributes, 'http.response.status_code')).toBe(200);

      const upstreamEvents = server.events.filter((e: any) => /^upstream/.test(attr(e.attributes, 'ccr.phase.name')));
      expect(upstreamEvents.map((e: any) => `${e.name}:${attr(e.attributes, 'ccr.phase.name')}`).sort()).toEqual(
        ['phase:upstream'],
      );
      const start = upstreamEvents.find((e: any) => attr(e.attributes, 'ccr.phase.name') === 'upstream');
      expect(attr(start.attributes, 'url.path')).toBe(`/up/${marker}`);
      expect(attr(start.attributes, 'server.address')).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(attr(start.attributes, 'http.request.method')).toBe('POST');
      expect(attr(start.attributes, 'http.response.status_code')).toBe(200);
      expect(attr(start.attributes, 'ccr.phase.ttfb_ms')).toBeGreaterThan(0);
      // nothing of the other request leaked in
      expect(JSON.stringify(server.events)).not.toContain(`/up/${other}`);
      // the request's own phases are all there too
      const names = server.events.map((e: any) => `${e.name}:${attr(e.attributes, 'ccr.phase.name')}`);
      expect(names).toEqual(
        expect.arrayContaining(['phase:ingress', 'phase:response']),
      );

      // the undici client span for /up/<marker> is this server span's child, and the only one
      const clients = spans.filter((s) => s.kind === 3 && s.traceId === TRACE_ID && s.parentSpanId === server.spanId);
      expect(clients).toHaveLength(1);
      expect(JSON.stringify(clients[0].attributes)).toContain(`/up/${marker}`);
      expect(JSON.stringify(clients[0].attributes)).not.toContain(`/up/${other}`);
      // and the upstream's own server span hangs under that client span
      const up = spans.find((s) => s.kind === 2 && s.parentSpanId === clients[0].spanId);
      expect(up).toBeDefined();
      expect(attr(up.attributes, 'ccr.upstream.count')).toBe(0);
    }
  });
});
