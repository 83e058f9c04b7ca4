// Redaction cost: the same records and spans through the SDK providers with and without the
// preload's redacting processors (packages/otel-setup, built), in one process, alternating, median
// of the rounds. Per record = a typical log record (message, 8 attributes, a nested request object
// with headers and a URL); per request = what the preload makes of one proxied request (a server
// span with 16 attributes and 4 phase events, a client span with its URL, 3 log records).
//   node bench/redaction.mjs [--smoke] [--json]
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { TracerProvider } from '@opentelemetry/sdk-trace';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { RedactingLogRecordProcessor, RedactingSpanProcessor } = require(join(here, '..', 'packages', 'otel-setup', 'dist', 'redacting-processors.js'));

const smoke = process.argv.includes('--smoke');
const json = process.argv.includes('--json');
const N_RECORDS = smoke ? 5_000 : 100_000;
const N_REQUESTS = smoke ? 1_000 : 10_000;
const ROUNDS = smoke ? 3 : 7;

const noopLogs = { onEmit() {}, enabled: () => true, forceFlush: async () => {}, shutdown: async () => {} };
const noopSpans = { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} };
const logger = (redact) => new LoggerProvider({ processors: redact ? [new RedactingLogRecordProcessor(), noopLogs] : [noopLogs] }).getLogger('bench');
const tracer = (redact) => new TracerProvider({ spanProcessors: redact ? [new RedactingSpanProcessor(), noopSpans] : [noopSpans] }).getTracer('bench');

let seq = 0;
/** A typical gateway log record; `secret` puts a key in a header and one in the URL. */
function emitRecord(l, secret) {
  const i = seq++;
  l.emit({
    severityNumber: 9,
    severityText: 'INFO',
    body: `request completed in ${i % 900} ms`,
    attributes: {
      'ccr.request.id': `req-${i}`,
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'url.path': '/v1/messages',
      'gen_ai.request.model': 'deepseek,deepseek-chat',
      'gen_ai.usage.input_tokens': 512,
      'gen_ai.usage.output_tokens': 128,
      'log.iostream': 'stdout',
      req: { method: 'POST', url: secret ? `/v1/messages?key=AIzaSyBench${i}0123456789abcdef` : '/v1/messages?beta=true', headers: { 'content-type': 'application/json', 'x-api-key': secret ? `sk-ant-api03-${i}abcdefghijkl` : undefined, 'user-agent': 'claude-cli/2.0' } },
    },
  });
}

const SERVER_ATTRS = {
  'http.request.method': 'POST', 'url.scheme': 'http', 'url.path': '/v1/messages', 'server.address': '127.0.0.1', 'server.port': 3456,
  'network.protocol.version': '1.1', 'user_agent.original': 'claude-cli/2.0.14 (external, cli)', 'client.address': '127.0.0.1',
  'http.route': '/v1/messages', 'ccr.request.id': 'req', 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'claude-sonnet-4',
  'gen_ai.provider.name': 'deepseek', 'gen_ai.usage.input_tokens': 512, 'gen_ai.usage.output_tokens': 128, 'http.response.status_code': 200,
};
/** One request: the server span with phases, the upstream client span, three log records. */
function request(t, l, secret) {
  const s = t.startSpan('POST /v1/messages', { attributes: SERVER_ATTRS });
  for (const p of ['ingress', 'upstream', 'upstream.ttfb', 'response']) {
    s.addEvent('phase', { 'ccr.phase.name': p, 'ccr.phase.duration_ms': 12.5 });
  }
  const c = t.startSpan('POST', { attributes: { 'http.request.method': 'POST', 'url.full': secret ? 'https://api.deepseek.com/chat/completions?key=sk-bench0123456789abc' : 'https://api.deepseek.com/chat/completions', 'server.address': 'api.deepseek.com', 'server.port': 443 } });
  c.setAttribute('http.response.status_code', 200);
  c.end();
  s.end();
  for (let k = 0; k < 3; k++) emitRecord(l, secret);
}

function time(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / n; // ns per op
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function measure(name, n, make) {
  const base = [], red = [];
  const fBase = make(false), fRed = make(true);
  time(fBase, n); time(fRed, n); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    base.push(time(fBase, n));
    red.push(time(fRed, n));
  }
  const b = median(base), x = median(red);
  return { name, ops: n, baseNs: Math.round(b), redactedNs: Math.round(x), costNs: Math.round(x - b), costPct: Math.round(((x - b) / b) * 1000) / 10 };
}

const results = [];
for (const secret of [false, true]) {
  results.push(measure(`log record${secret ? ', 2 secrets' : ''}`, N_RECORDS, (redact) => { const l = logger(redact); return () => emitRecord(l, secret); }));
  results.push(measure(`request (2 spans, 8 events, 3 records)${secret ? ', secrets' : ''}`, N_REQUESTS, (redact) => { const t = tracer(redact), l = logger(redact); return () => request(t, l, secret); }));
}

if (json) process.stdout.write(JSON.stringify({ rounds: ROUNDS, results }) + '\n');
else {
  console.log(`### Redaction cost (${ROUNDS} rounds of ${N_RECORDS.toLocaleString('en-US')} records / ${N_REQUESTS.toLocaleString('en-US')} requests, median; SDK providers with a no-op processor, with and without the redacting processors)\n`);
  console.log('| what | without µs | with µs | redaction µs | + % |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.name} | ${(r.baseNs / 1000).toFixed(2)} | ${(r.redactedNs / 1000).toFixed(2)} | ${(r.costNs / 1000).toFixed(2)} | ${r.costPct} |`);
}
