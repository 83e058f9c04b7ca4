// A CCR-like gateway: node:http in, the JSON body parsed and forwarded with undici's fetch to the
// upstream (UPSTREAM_URL), the answer (JSON or SSE) streamed back chunk by chunk. No logging of its
// own. CommonJS, like CCR's bundled gateway (a `-r` preload's require hooks see its modules).
// Started by the driver with an IPC channel: it sends {ready, port} and stops on 'stop'.
'use strict';
const { createServer } = require('node:http');

const upstream = process.env.UPSTREAM_URL;
if (!upstream) throw new Error('UPSTREAM_URL is required');

const server = createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    // a router's work: pick the provider model, forward with the provider's key
    body.model = body.model === 'claude-haiku' ? 'claude-3-5-haiku-latest' : body.model;
    const up = await fetch(upstream + '/v1/messages', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': req.headers['x-api-key'] ?? '',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify(body),
    });
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
    for await (const c of up.body) res.write(c);
    res.end();
  } catch (e) {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', message: String(e?.message ?? e) }));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ ready: true, port: server.address().port }));
process.on('message', (m) => {
  if (m === 'stop') {
    server.close();
    server.closeAllConnections();
    process.disconnect();
  }
});
// the driver's probe: CPU and RSS from inside, over the IPC channel (no HTTP request to trace).
// rssAnon is the private part of RSS (/proc/self/status RssAnon): the node binary's code pages a
// process has mapped are shared with every node process, and how many of them count in its RSS
// depends on the page cache (the kernel maps pages around each fault), not on the process alone.
const { readFileSync } = require('node:fs');
function rssAnon() {
  try {
    return Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
}
process.on('message', (m) => {
  if (m === 'stats') process.send({ cpu: process.cpuUsage(), rss: process.memoryUsage.rss(), rssAnon: rssAnon() });
});
