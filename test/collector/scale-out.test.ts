/**
 * The scale-out tier with the real binaries: one agent (collector/agent.yaml, the load_balancing exporter
 * with the static resolver from CCR_OTEL_GATEWAY_ENDPOINTS) in front of two gateways
 * (collector/gateway.yaml, files rotated at 1 MiB). 2,000 traces of 10 spans go to the agent over OTLP/HTTP;
 * one gateway is SIGKILLed mid-stream and restarted. Every span arrives, and every trace is whole in one
 * gateway's files (current file and rotated backups).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { COLLECTOR_CONFIG, COLLECTOR_DIR, postOtlpJson, readJsonLines, signalFiles, startCollector, type RunningCollector } from '../helpers/collector';
import { attrs, spansOf } from '../helpers/otlp-json';

const AGENT_CONFIG = path.join(COLLECTOR_DIR, 'agent.yaml');
const GATEWAY_CONFIG = path.join(COLLECTOR_DIR, 'gateway.yaml');

const TRACES = 2000;
const SPANS_PER_TRACE = 10;
const TRACES_PER_REQUEST = 20; // 100 requests of 200 spans
const KILL_AT_REQUEST = 30;
const RESTART_AT_REQUEST = 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started: RunningCollector[] = [];
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-scale-out-'));
});
afterAll(async () => {
  await Promise.all(started.map((c) => c.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function start(opts: Parameters<typeof startCollector>[0]): Promise<RunningCollector> {
  const c = await startCollector(opts);
  started.push(c);
  return c;
}

/** One OTLP-JSON request with `traceIds.length` traces of SPANS_PER_TRACE spans each (a root and its children). */
function tracesRequest(traceIds: string[]): unknown {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = traceIds.flatMap((traceId) => {
    const ids = Array.from({ length: SPANS_PER_TRACE }, () => randomBytes(8).toString('hex'));
    return ids.map((spanId, i) => ({
      traceId,
      spanId,
      parentSpanId: i === 0 ? '' : ids[0],
      name: i === 0 ? 'request' : `step-${i}`,
      kind: i === 0 ? 2 : 1,
      startTimeUnixNano: String(now + BigInt(i) * 1000n),
      endTimeUnixNano: String(now + BigInt(i) * 1000n + 500n),
      attributes: attrs({ 'test.span_index': i }),
    }));
  });
  return {
    resourceSpans: [{ resource: { attributes: attrs({ 'service.name': 'scale-out-test' }) }, scopeSpans: [{ scope: { name: 'scale-out' }, spans }] }],
  };
}

/** traceId -> spanId -> number of copies, over the complete lines of one gateway's traces files. */
function spansIn(dataDir: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const s of spansOf(readJsonLines(signalFiles(dataDir, 'traces').all))) {
    const t = out.get(s.traceId) ?? new Map<string, number>();
    t.set(s.spanId, (t.get(s.spanId) ?? 0) + 1);
    out.set(s.traceId, t);
  }
  return out;
}

// gateway.yaml is generated from config.yaml by collector/deploy/kubernetes/sync-configs.sh; run it when this fails.
test('gateway.yaml carries exactly the health checks, processors, files and Jaeger exporter of config.yaml', () => {
  const gw = YAML.parse(fs.readFileSync(GATEWAY_CONFIG, 'utf8'));
  const cfg = YAML.parse(fs.readFileSync(COLLECTOR_CONFIG, 'utf8'));
  for (const section of ['extensions', 'processors', 'exporters'] as const) expect([section, gw[section]]).toEqual([section, cfg[section]]);
  expect(gw.service.pipelines).toEqual(cfg.service.pipelines);
  expect(gw.service.extensions).toEqual(cfg.service.extensions);
  // the agents speak OTLP/gRPC to the gateways
  expect(gw.receivers.otlp.protocols.grpc.endpoint).toBe(cfg.receivers.otlp.protocols.grpc.endpoint);
});

test('an agent without CCR_OTEL_GATEWAY_ENDPOINTS does not start, and says why', async () => {
  await expect(start({ configPath: AGENT_CONFIG, dataDir: path.join(tmp, 'agent-without-gateways') })).rejects.toThrow(/hostnames|resolver|endpoint/i);
});

test('one agent, two gateways: a gateway SIGKILLed mid-stream and restarted loses nothing and splits no trace', async () => {
  // 1 MiB files: each gateway's ~3 MiB of traces spread over the current file and rotated .gz backups.
  const gatewayEnv = { LOG_ROTATION_SIZE: '1' };
  const gateways = [
    await start({ configPath: GATEWAY_CONFIG, dataDir: path.join(tmp, 'gw0'), env: gatewayEnv }),
    await start({ configPath: GATEWAY_CONFIG, dataDir: path.join(tmp, 'gw1'), env: gatewayEnv }),
  ];
  const agent = await start({
    configPath: AGENT_CONFIG,
    dataDir: path.join(tmp, 'agent'),
    env: { CCR_OTEL_GATEWAY_ENDPOINTS: gateways.map((g) => g.otlpGrpcEndpoint).join(',') },
  });

  const traceIds = Array.from({ length: TRACES }, () => randomBytes(16).toString('hex'));
  const sentWhileDown = new Set<string>();
  let restarted: Promise<void> | undefined;
  let down = false;
  let agentReadyWhileDown = 0;
  for (let r = 0; r * TRACES_PER_REQUEST < TRACES; r++) {
    if (r === KILL_AT_REQUEST) {
      process.kill(gateways[1].pid, 'SIGKILL');
      down = true;
    }
    if (r === RESTART_AT_REQUEST) {
      // A dead gateway is the queue's business: the agent stays ready (its Service keeps it).
      agentReadyWhileDown = (await fetch(agent.readyUrl)).status;
      restarted = gateways[1].restart().then(() => void (down = false));
    }
    const batch = traceIds.slice(r * TRACES_PER_REQUEST, (r + 1) * TRACES_PER_REQUEST);
    if (down) for (const id of batch) sentWhileDown.add(id);
    // Acknowledged by the agent once in its persisted queue, whether or not the gateway is up.
    await postOtlpJson(agent.otlpHttpEndpoint, 'traces', tracesRequest(batch));
    await sleep(20);
  }
  await restarted;

  // Wait until every trace is whole somewhere (the agent retries what the dead gateway did not take).
  const want = TRACES * SPANS_PER_TRACE;
  let found: Map<string, Map<string, number>>[] = [];
  const deadline = Date.now() + 90000;
  for (;;) {
    found = gateways.map((g) => spansIn(g.dataDir));
    const distinct = new Set<string>();
    for (const f of found) for (const [t, spans] of f) for (const s of spans.keys()) distinct.add(`${t}/${s}`);
    if (distinct.size >= want || Date.now() > deadline) break;
    await sleep(500);
  }

  let spans = 0;
  let duplicates = 0;
  const split: string[] = [];
  const missing: string[] = [];
  const perGateway = [0, 0];
  for (const id of traceIds) {
    const holders = found.map((f, i) => (f.has(id) ? i : -1)).filter((i) => i >= 0);
    if (holders.length !== 1) {
      (holders.length === 0 ? missing : split).push(id);
      continue;
    }
    const copies = found[holders[0]].get(id)!;
    perGateway[holders[0]]++;
    if (copies.size !== SPANS_PER_TRACE) missing.push(`${id} (${copies.size} of ${SPANS_PER_TRACE} spans)`);
    for (const n of copies.values()) {
      spans++;
      duplicates += n - 1;
    }
  }
  const downToGw1 = [...sentWhileDown].filter((id) => found[1].has(id)).length;
  const backups = gateways.map((g) => signalFiles(g.dataDir, 'traces').rotated.length);
  console.log(
    `scale-out: ${spans} distinct spans of ${want}; traces per gateway ${perGateway.join(' / ')}; ` +
      `rotated backups per gateway ${backups.join(' / ')}; ${sentWhileDown.size} traces sent while gateway 1 was down, ${downToGw1} of them delivered to it after its restart; ` +
      `${duplicates} duplicate span copies (at-least-once: a request that failed for one gateway is retried whole, so the other gateway gets its part again)`,
  );
  expect({ split: split.length, missing: missing.slice(0, 5) }).toEqual({ split: 0, missing: [] });
  expect(spans).toBe(want);
  expect(agentReadyWhileDown).toBe(200);
  // Both gateways took part, and the dead one got its share of what was sent while it was down
  // (the static ring does not move: its traces waited in the agent's queue).
  expect(perGateway[0]).toBeGreaterThan(TRACES / 4);
  expect(perGateway[1]).toBeGreaterThan(TRACES / 4);
  expect(downToGw1).toBeGreaterThan(0);
  for (const n of backups) expect(n).toBeGreaterThan(0); // the traces were read back across rotated files
}, 240000);

test("the agent's queue is on disk: what it acknowledged while no gateway was up survives its SIGKILL", async () => {
  const gateway = await start({ configPath: GATEWAY_CONFIG, dataDir: path.join(tmp, 'gw-late') });
  await gateway.stop(); // its ports stay reserved for the restart below; nobody listens meanwhile
  const agent = await start({
    configPath: AGENT_CONFIG,
    dataDir: path.join(tmp, 'agent-killed'),
    env: { CCR_OTEL_GATEWAY_ENDPOINTS: gateway.otlpGrpcEndpoint },
  });
  const traceIds = Array.from({ length: 200 }, () => randomBytes(16).toString('hex'));
  for (let r = 0; r * TRACES_PER_REQUEST < traceIds.length; r++) {
    await postOtlpJson(agent.otlpHttpEndpoint, 'traces', tracesRequest(traceIds.slice(r * TRACES_PER_REQUEST, (r + 1) * TRACES_PER_REQUEST)));
  }
  process.kill(agent.pid, 'SIGKILL');
  await gateway.restart();
  await agent.restart(); // same storage directory: the queue is read back and sent

  const want = traceIds.length * SPANS_PER_TRACE;
  let distinct = 0;
  for (const deadline = Date.now() + 60000; Date.now() < deadline; await sleep(500)) {
    const found = spansIn(gateway.dataDir);
    distinct = traceIds.reduce((n, id) => n + (found.get(id)?.size ?? 0), 0);
    if (distinct >= want) break;
  }
  expect(distinct).toBe(want);
});

