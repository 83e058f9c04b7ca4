/**
 * The collector process itself: /health and /ready answer 200, its own metrics are served on their port,
 * metrics reach the metrics file, and after a restart on the same data directory the file exporter
 * appends: nothing written before the restart is lost.
 */
import * as fs from 'node:fs';
import { postOtlpJson, readJsonLines, signalFiles, startCollector, type RunningCollector } from '../helpers/collector';
import { attrs, attrValue, logRecordsOf, logsRequest } from '../helpers/otlp-json';

let col: RunningCollector | undefined;

afterAll(async () => {
  await col?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(150);
  }
}

function recordsByRun(dataDir: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of logRecordsOf(readJsonLines(signalFiles(dataDir, 'logs').all))) {
    const run = attrValue(r.attributes, 'run') as string;
    if (!out.has(run)) out.set(run, []);
    out.get(run)!.push(attrValue(r.attributes, 'seq') as number);
  }
  return out;
}

const records = (run: string, n: number) =>
  Array.from({ length: n }, (_, seq) => ({ seq, body: `${run} record ${seq}`, attributes: { run } }));

beforeAll(async () => {
  col = await startCollector();
});

test('liveness and readiness answer 200 while running and the collector serves its own metrics', async () => {
  const health = await fetch(col!.healthUrl);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ healthy: true, status: 'StatusOK' });
  expect((await fetch(col!.readyUrl)).status).toBe(200);
  const metrics = await (await fetch(col!.metricsUrl)).text();
  expect(metrics).toMatch(/otelcol_process_uptime/);
  expect(metrics).toMatch(/otelcol_exporter_queue_capacity\{[^}]*exporter="otlp_grpc\/jaeger"/);
});

test('metrics sent over OTLP/HTTP land in the metrics file', async () => {
  const now = String(BigInt(Date.now()) * 1_000_000n);
  await postOtlpJson(col!.otlpHttpEndpoint, 'metrics', {
    resourceMetrics: [
      {
        resource: { attributes: attrs({ 'service.name': 'metrics-test' }) },
        scopeMetrics: [
          {
            scope: { name: 'ccr-otel-tests' },
            metrics: [
              {
                name: 'ccr.test.requests',
                sum: {
                  aggregationTemporality: 2,
                  isMonotonic: true,
                  dataPoints: [{ asInt: '42', startTimeUnixNano: now, timeUnixNano: now, attributes: attrs({ route: '/v1/messages' }) }],
                },
              },
            ],
          },
        ],
      },
    ],
  });
  const metric = await until('metric in metrics.jsonl', () => {
    for (const req of readJsonLines([col!.metricsFile]))
      for (const rm of req.resourceMetrics ?? [])
        for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) if (m.name === 'ccr.test.requests') return m;
    return undefined;
  });
  expect(metric.sum.dataPoints[0].asInt).toBe('42');
});

test('after a restart the file exporter appends; records written before are kept', async () => {
  await postOtlpJson(col!.otlpHttpEndpoint, 'logs', logsRequest('restart-test', records('before', 300)));
  await until('first run on disk', () => (recordsByRun(col!.dataDir).get('before')?.length ?? 0) >= 300);
  const sizeBefore = fs.statSync(col!.logsFile).size;
  const firstLineBefore = fs.readFileSync(col!.logsFile, 'utf8').split('\n')[0];

  const pidBefore = col!.pid;
  await col!.restart();
  expect(col!.pid).not.toBe(pidBefore);
  expect((await fetch(col!.healthUrl)).status).toBe(200);
  // the restart alone does not truncate the file
  expect(fs.statSync(col!.logsFile).size).toBe(sizeBefore);

  await postOtlpJson(col!.otlpHttpEndpoint, 'logs', logsRequest('restart-test', records('after', 300)));
  await until('second run on disk', () => (recordsByRun(col!.dataDir).get('after')?.length ?? 0) >= 300);
  await sleep(1200);

  expect(fs.statSync(col!.logsFile).size).toBeGreaterThan(sizeBefore);
  expect(fs.readFileSync(col!.logsFile, 'utf8').split('\n')[0]).toBe(firstLineBefore);
  const byRun = recordsByRun(col!.dataDir);
  for (const run of ['before', 'after']) {
    const seqs = byRun.get(run)!.sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i)); // each exactly once
  }
});

test('stop() ends the process: no PID left, health endpoint gone', async () => {
  const pid = col!.pid;
  await col!.stop();
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch {
    alive = false;
  }
  expect(alive).toBe(false);
  await expect(fetch(col!.healthUrl, { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
  await col!.stop(); // idempotent
});
