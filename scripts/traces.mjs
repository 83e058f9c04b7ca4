#!/usr/bin/env node
/**
 * `npm run traces`: the latest traces from Jaeger's query API as a waterfall in the terminal, for the
 * Jaeger built from Go modules (which has no UI). Spans in tree order with their time bars, each
 * tracked request's phases (ingress, upstream with its ttfb, first_token and stream from the
 * upstream event's attributes, response) under its span, and a GenAI line: provider, models, tokens, time to first chunk, finish
 * reason, cost, errors.
 *
 *   node scripts/traces.mjs [--jaeger URL] [--service NAME] [--limit N] [--lookback MIN] [--trace ID] [--route PATH] [--width N]
 *
 * --jaeger   query URL (default $JAEGER_QUERY_URL, else http://127.0.0.1:16686)
 * --service  service name (default: every service Jaeger knows, except Jaeger's own)
 * --limit    traces to print, newest first (default 3)
 * --lookback minutes to look back (default 60)
 * --trace    print this one trace id
 * --route    only traces with a span of this http.route (e.g. /v1/messages)
 * --width    width of the time bars (default 32)
 *
 * Also a module: printTraces(options) prints and returns the traces (the demo ends with it).
 */
import { pathToFileURL } from 'node:url';

const color = (code) => (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const bold = color('1');
const dim = color('2');
const red = color('31');
const green = color('32');
const yellow = color('33');
const cyan = color('36');
const magenta = color('35');

function parseArgs(argv) {
  const o = { jaeger: process.env.JAEGER_QUERY_URL || 'http://127.0.0.1:16686', service: undefined, limit: 3, lookbackMin: 60, trace: undefined, route: undefined, width: 32 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const v = Number(val());
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--jaeger') o.jaeger = val();
    else if (a === '--service') o.service = val();
    else if (a === '--limit') o.limit = Math.floor(num());
    else if (a === '--lookback') o.lookbackMin = num();
    else if (a === '--trace') o.trace = val();
    else if (a === '--route') o.route = val();
    else if (a === '--width') o.width = Math.max(8, Math.floor(num()));
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run traces -- [--jaeger URL] [--service NAME] [--limit N] [--lookback MIN] [--trace ID] [--route PATH] [--width N]');
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  return o;
}

async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  if (!res.ok) throw new Error(`GET ${url} -> ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

/** The newest traces: of one service, or of every service but Jaeger's own. */
export async function fetchTraces({ jaeger, service, limit = 3, lookbackMin = 60, trace, route }) {
  const base = jaeger.replace(/\/+$/, '');
  if (trace) {
    const body = await getJson(`${base}/api/traces/${encodeURIComponent(trace)}`);
    return body?.data ?? [];
  }
  let services = service ? [service] : ((await getJson(`${base}/api/services`))?.data ?? []).filter((s) => !/^jaeger/.test(s));
  const end = Date.now() * 1000;
  const start = end - lookbackMin * 60e6;
  const all = [];
  for (const s of services) {
    const body = await getJson(`${base}/api/traces?service=${encodeURIComponent(s)}&start=${start}&end=${end}&limit=${Math.max(limit * 10, 50)}`);
    all.push(...(body?.data ?? []));
  }
  const first = (t) => Math.min(...t.spans.map((s) => s.startTime));
  const seen = new Set();
  const hasRoute = (t) => !route || t.spans.some((s) => (s.tags ?? []).some((g) => g.key === 'http.route' && g.value === route));
  return all
    .filter((t) => (seen.has(t.traceID) ? false : seen.add(t.traceID)) && hasRoute(t))
    .sort((a, b) => first(b) - first(a))
    .slice(0, limit);
}

const tagsOf = (span) => Object.fromEntries((span.tags ?? []).map((t) => [t.key, t.value]));
const fieldsOf = (log) => Object.fromEntries((log.fields ?? []).map((f) => [f.key, f.value]));

/** Phases of a span from its `phase` events (one per phase, dated at its start; µs), in start order. */
function phasesOf(span) {
  const out = [];
  for (const l of span.logs ?? []) {
    const f = fieldsOf(l);
    const name = f['ccr.phase.name'];
    if (!name || f.event !== 'phase') continue;
    const ms = Number(f['ccr.phase.duration_ms']);
    // a phase still open when the request ended has no end of its own
    const end = f['ccr.phase.incomplete'] === true ? undefined : l.timestamp + ms * 1000;
    out.push({ name, start: l.timestamp, end, ms: end === undefined ? NaN : ms, attrs: f });
    // an upstream phase's sub-phases ride on its event: from its start to the headers, to the first chunk, then the stream
    const sub = (suffix, fromMs, key) => {
      const d = Number(f[key]);
      if (f[key] !== undefined && Number.isFinite(d)) out.push({ name: `${name}.${suffix}`, start: l.timestamp + fromMs * 1000, end: l.timestamp + (fromMs + d) * 1000, ms: d, attrs: {} });
    };
    sub('ttfb', 0, 'ccr.phase.ttfb_ms');
    sub('first_token', 0, 'ccr.phase.first_token_ms');
    sub('stream', Number(f['ccr.phase.first_token_ms']) || 0, 'ccr.phase.stream_ms');
  }
  return out.sort((a, b) => a.start - b.start);
}

function bar(t0, total, start, end, width, ch = '█') {
  const s = Math.max(0, Math.min(width - 1, Math.floor(((start - t0) / total) * width)));
  const e = end === undefined ? width : Math.max(s + 1, Math.min(width, Math.round(((end - t0) / total) * width)));
  return dim('·'.repeat(s)) + ch.repeat(e - s) + dim('·'.repeat(width - e));
}

const ms = (us) => `${(us / 1000).toFixed(us < 10000 ? 2 : 1)} ms`;

function genaiLine(t) {
  if (!t['gen_ai.provider.name'] && !t['gen_ai.usage.input_tokens']) return undefined;
  const parts = [];
  const provider = t['gen_ai.provider.name'];
  const models = [t['gen_ai.request.model'], t['ccr.upstream.model'] !== t['gen_ai.request.model'] ? t['ccr.upstream.model'] : undefined, t['gen_ai.response.model']]
    .filter(Boolean)
    .filter((m, i, a) => a.indexOf(m) === i);
  parts.push(`${magenta(provider ?? '?')} ${models.join(' → ')}`);
  if (t['gen_ai.usage.input_tokens'] !== undefined || t['gen_ai.usage.output_tokens'] !== undefined) {
    let tok = `tokens ${bold(t['gen_ai.usage.input_tokens'] ?? '?')} in / ${bold(t['gen_ai.usage.output_tokens'] ?? '?')} out`;
    const cache = [
      t['gen_ai.usage.cache_read.input_tokens'] ? `cache read ${t['gen_ai.usage.cache_read.input_tokens']}` : '',
      t['gen_ai.usage.cache_creation.input_tokens'] ? `cache write ${t['gen_ai.usage.cache_creation.input_tokens']}` : '',
    ].filter(Boolean);
    if (cache.length) tok += ` (${cache.join(', ')})`;
    parts.push(tok);
  }
  if (t['gen_ai.response.time_to_first_chunk'] !== undefined) parts.push(`first chunk ${bold((Number(t['gen_ai.response.time_to_first_chunk']) * 1000).toFixed(1) + ' ms')}`);
  const finish = t['gen_ai.response.finish_reasons'];
  if (finish !== undefined) parts.push(`finish ${Array.isArray(finish) ? finish.join(',') : String(finish).replace(/[[\]"]/g, '')}`);
  if (t['gen_ai.request.stream'] !== undefined) parts.push(t['gen_ai.request.stream'] ? 'stream' : 'no stream');
  if (t['ccr.cost.usd'] !== undefined) parts.push(`$${Number(t['ccr.cost.usd']).toFixed(6)}`);
  return parts.join(dim('  ·  '));
}

/** Prints one trace as a waterfall; returns the lines. */
export function formatTrace(trace, { width = 32 } = {}) {
  const lines = [];
  const spans = trace.spans;
  const t0 = Math.min(...spans.map((s) => s.startTime));
  const t1 = Math.max(...spans.map((s) => s.startTime + s.duration));
  const total = Math.max(1, t1 - t0);
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = (s.references ?? []).find((r) => r.refType === 'CHILD_OF' && byId.has(r.spanID))?.spanID;
    if (parent) (children.get(parent) ?? children.set(parent, []).get(parent)).push(s);
    else roots.push(s);
  }
  const service = (s) => trace.processes?.[s.processID]?.serviceName ?? '?';
  const root = roots.sort((a, b) => a.startTime - b.startTime)[0];
  lines.push(
    `${bold('trace')} ${cyan(trace.traceID)}  ${bold(service(root))}  ${root.operationName}  ${bold(ms(total))}  ${dim(new Date(t0 / 1000).toISOString())}  ${dim(`${spans.length} span${spans.length === 1 ? '' : 's'}`)}`,
  );
  const nameWidth = 44;
  const walk = (s, depth) => {
    const t = tagsOf(s);
    const err = t['otel.status_code'] === 'ERROR' || t.error === true;
    const kind = t['span.kind'] ? dim(`[${t['span.kind']}]`) : '';
    const label = `${'  '.repeat(depth)}${s.operationName} ${kind}`;
    const route = t['http.route'] ?? t['url.path'] ?? (t['url.full'] ? String(t['url.full']).replace(/^[a-z]+:\/\/[^/]+/, '') : '');
    const status = t['http.response.status_code'];
    const extra = [route && !s.operationName.includes(route) ? route : '', status !== undefined ? (status >= 400 ? red(status) : green(status)) : '', err ? red(`ERROR${t['error.type'] ? ' ' + t['error.type'] : ''}`) : '']
      .filter(Boolean)
      .join(' ');
    lines.push(`${pad(label, nameWidth)} ${bar(t0, total, s.startTime, s.startTime + s.duration, width, err ? red('█') : '█')} ${pad(ms(s.duration), 10, true)}  ${extra}`);
    for (const p of phasesOf(s)) {
      const a = p.attrs;
      const notes = [
        a['error.type'] ? red(`error ${a['error.type']}`) : '',
        a['http.response.status_code'] !== undefined ? dim(`status ${a['http.response.status_code']}`) : '',
        a['server.address'] ? dim(String(a['server.address'])) : '',
        a['ccr.stream.chunks'] !== undefined ? `${a['ccr.stream.chunks']} chunks` : '',
        a['ccr.stream.time_per_output_chunk_ms'] !== undefined ? `${Number(a['ccr.stream.time_per_output_chunk_ms']).toFixed(1)} ms/chunk` : '',
        a['ccr.request.cancelled'] ? yellow('cancelled') : '',
        p.end === undefined ? yellow('never ended') : '',
      ].filter(Boolean);
      const phaseLabel = `${'  '.repeat(depth + 1)}${dim('›')} ${p.name}`;
      lines.push(`${pad(phaseLabel, nameWidth)} ${bar(t0, total, p.start, p.end, width, p.name.includes('first_token') ? yellow('▓') : cyan('▒'))} ${pad(Number.isNaN(p.ms) ? '…' : ms(p.ms * 1000), 10, true)}  ${notes.join(' ')}`);
    }
    const g = genaiLine(t);
    if (g) lines.push(`${'  '.repeat(depth + 1)}${magenta('gen_ai')} ${g}`);
    if (t['ccr.request.cancelled']) lines.push(`${'  '.repeat(depth + 1)}${yellow('cancelled by the client')}`);
    if (t['ccr.upstream.error.type']) lines.push(`${'  '.repeat(depth + 1)}${red(`upstream error ${t['ccr.upstream.error.type']}`)}`);
    for (const c of (children.get(s.spanID) ?? []).sort((a, b) => a.startTime - b.startTime)) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  return lines;
}

/** Visible length (ANSI colours excluded). */
function pad(s, n, left = false) {
  const len = String(s).replace(/\x1b\[[0-9;]*m/g, '').length;
  if (len >= n) return s;
  return left ? ' '.repeat(n - len) + s : s + ' '.repeat(n - len);
}

export async function printTraces(options) {
  const o = { limit: 3, lookbackMin: 60, width: 32, ...options };
  const traces = await fetchTraces(o);
  if (!traces.length) {
    console.log(dim(`no traces${o.service ? ` of ${o.service}` : ''} in the last ${o.lookbackMin} min at ${o.jaeger}`));
    return traces;
  }
  for (const t of traces) {
    console.log(formatTrace(t, o).join('\n'));
    console.log();
  }
  return traces;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`traces: ${e.message}`);
    process.exit(2);
  }
  printTraces(opts).catch((e) => {
    const unreachable = e.message === 'fetch failed' || e.name === 'TimeoutError';
    console.error(
      `traces: ${unreachable ? `cannot reach Jaeger's query API at ${opts.jaeger} (${e.cause?.code ?? e.cause?.errors?.[0]?.code ?? e.message}); start it with collector/start.sh or the demo, or pass --jaeger URL` : e.message}`,
    );
    process.exit(1);
  });
}
