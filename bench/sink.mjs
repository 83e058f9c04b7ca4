// A local OTLP/HTTP protobuf sink, run as a child process so that its work does not
// share the benchmarked process's event loop. Counts records per signal exactly.
import { createServer } from 'node:http';
import { countOtlpRecords } from './lib/count-otlp.mjs';

const counts = { logs: 0, traces: 0, requests: 0, bytes: 0 };
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(counts));
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    counts.logs = counts.traces = counts.requests = counts.bytes = 0;
    res.end('{}');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    counts.requests++;
    counts.bytes += body.length;
    const n = countOtlpRecords(body);
    if (req.url === '/v1/logs') counts.logs += n;
    else if (req.url === '/v1/traces') counts.traces += n;
    res.statusCode = 200;
    res.setHeader('content-type', 'application/x-protobuf');
    res.end(); // an empty Export*ServiceResponse
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
