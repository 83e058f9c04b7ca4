#!/usr/bin/env node
/**
 * CPU per upstream LLM call of the preload's GenAI reading (packages/otel-setup/src/genai): the
 * request body window and the SSE parsing of an OpenAI-format stream, without the span and metric
 * work. Median of 5 runs; each run times many calls with process.cpuUsage().
 *
 *   npm run build && node bench/genai-parse.mjs
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { GenAiCall } = require('../packages/otel-setup/dist/genai/upstream-call.js');

const chunk = (delta, finish = null, extra = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;

function stream(n) {
  const parts = [chunk({ role: 'assistant', content: '' })];
  for (let i = 0; i < n; i++) parts.push(chunk({ content: ' tok' + i }));
  parts.push(chunk({}, 'stop'), `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 5, completion_tokens: n } })}\n\n`, 'data: [DONE]\n\n');
  return parts.map((p) => Buffer.from(p));
}

const requestBody = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(20000) }], max_tokens: 100, stream: true }));

for (const [n, calls] of [
  [4, 20000],
  [500, 300],
]) {
  const chunks = stream(n);
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) {
      const call = new GenAiCall('openai', 'api.openai.com', '/v1/chat/completions', {});
      call.requestChunk(requestBody);
      call.responseHeaders(200, 'text/event-stream', undefined);
      for (const c of chunks) call.responseChunk(c);
      call.end(undefined, {}, false, () => {});
    }
    const u = process.cpuUsage(t0);
    runs.push((u.user + u.system) / calls);
  }
  runs.sort((a, b) => a - b);
  console.log(`stream of ${n} output chunks, 20 KB request body: median ${runs[2].toFixed(1)} µs CPU per call (runs ${runs.map((x) => x.toFixed(1)).join(', ')})`);
}
