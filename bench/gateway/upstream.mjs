// A fake LLM upstream shaped like Anthropic's POST /v1/messages: a JSON answer, or with
// "stream": true an SSE stream (message_start, content_block_* deltas, message_stop) written in
// separate chunks. Runs in its own process; prints {"port"} when listening.
import { createServer } from 'node:http';

const TEXT_CHUNKS = ['Hello', ', this', ' is a', ' fake', ' answer', ' from the', ' upstream', '.'];
const usage = { input_tokens: 25, output_tokens: TEXT_CHUNKS.length };

function sse(event, data) {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function streamEvents(model) {
  const id = 'msg_bench';
  return [
    sse('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ...TEXT_CHUNKS.map((text) => sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }),
    sse('message_stop', { type: 'message_stop' }),
  ];
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"type":"error"}');
      return;
    }
    const model = body.model ?? 'unknown';
    if (!body.stream) {
      const answer = { id: 'msg_bench', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: TEXT_CHUNKS.join('') }], stop_reason: 'end_turn', stop_sequence: null, usage };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const events = streamEvents(model);
    let i = 0;
    // one event per turn of the event loop: the gateway sees them as separate chunks
    const next = () => {
      if (res.destroyed) return;
      if (i < events.length) {
        res.write(events[i++]);
        setImmediate(next);
      } else res.end();
    };
    next();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
