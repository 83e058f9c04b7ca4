// Why the request path records its histograms into LocalHistograms: one record of a GenAI-like
// histogram with 5 attributes through the SDK's meter (attributes hashed per record) against a
// LocalHistograms series bound once. Same values, alternating rounds, medians.
//   node bench/histograms.mjs [--records 1000000] [--rounds 3]
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { LocalHistograms } from '@ccr/otel-processors';

const args = process.argv.slice(2);
const value = (name, def) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : def);
const n = value('--records', 1_000_000);
const rounds = value('--rounds', 3);
const attributes = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'anthropic',
  'gen_ai.request.model': 'claude-sonnet-4',
  'gen_ai.response.model': 'claude-sonnet-4',
  'gen_ai.token.type': 'input',
};
// a reader, as the preload has: without one the SDK's meter stores nothing
const reader = new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 });
const sdk = new MeterProvider({ readers: [reader] }).getMeter('bench').createHistogram('gen_ai.client.token.usage');
const bound = new LocalHistograms().histogram('gen_ai.client.token.usage').bind(attributes);
const modes = {
  sdk: (i) => sdk.record(i & 1023, attributes),
  local: (i) => bound.record(i & 1023),
};
const ns = { sdk: [], local: [] };
for (let r = 0; r < rounds; r++) {
  for (const [name, record] of Object.entries(modes)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) record(i);
    ns[name].push(Number(process.hrtime.bigint() - t0) / n);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const out = { records: n, rounds, sdkNsPerRecord: +median(ns.sdk).toFixed(1), localNsPerRecord: +median(ns.local).toFixed(1) };
out.ratio = +(out.sdkNsPerRecord / out.localNsPerRecord).toFixed(1);
console.log(JSON.stringify(out));
await reader.shutdown();
