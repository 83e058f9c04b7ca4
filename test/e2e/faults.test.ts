/**
 * The fault suite: a real child process with the preload (spill on) sends 2,000 log records/s through a
 * fault proxy to a real ccr-otelcol (shipped config). Each case streams for 2 s, then the proxy answers
 * 503 + Retry-After, 429 + Retry-After, holds requests unanswered (a black hole) or answers 2 s late, then
 * forwards again; then the collector itself is restarted with SIGTERM, and an app ends inside a black hole
 * (a successor of the same service replays what it spilled at exit). Every case reconciles every
 * record on the collector's disk: emitted = unique arrived + counted drops (the sender's final stats),
 * duplicates counted and printed; the retry cases also count the requests that reached the proxy
 * during the fault (Retry-After honoured, no busy loop).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCollector, tearDown, type RunningCollector } from '../helpers/collector';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../helpers/fault-proxy';
import { childEnv, node24, OTEL_SETUP_DIR, sleep, start, waitFor, type Started } from '../helpers/process';
import { outputJsonLines, reconcileSender, spillBytes } from '../helpers/records';

const RATE = 2000;
/** Streaming before the fault, and after it (time to replay the spill before the app ends). */
const BEFORE_MS = 2000;
const AFTER_MS = 6000;
const SENDER = path.join(__dirname, 'spill-sender.js');
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-faults-e2e-'));
const procs: Started[] = [];
let col: RunningCollector;
let proxy: FaultProxy;
const results: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  col = await startCollector();
  proxy = await startFaultProxy(col.otlpHttpEndpoint);
});

afterAll(async () => {
  await tearDown(procs, [col], [outDir]);
  await proxy?.close().catch(() => undefined);
  console.log(`fault suite at ${RATE} records/s:\n${results.map((r) => JSON.stringify(r)).join('\n')}`);
});

function sender(name: string, endpoint: string, durationMs: number, env: Record<string, string> = {}): { app: Started; run: string } {
  const run = env.RUN ?? `${name}-${Date.now()}`;
  const app = start(node24(), ['-r', OTEL_SETUP_DIR, SENDER], {
    env: childEnv({
      OTEL_SETUP_DIR,
      OTEL_SERVICE_NAME: `faults-e2e-${name}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      CCR_OTEL_SPILL_DIR: path.join(outDir, `spill-${name}`),
      LOG_LEVEL: 'info',
      // every record must be kept: the level floor stays where it is configured
      CCR_OTEL_ADAPTIVE: 'false',
      RATE: String(RATE),
      DURATION_MS: String(durationMs),
      RUN: run,
      ...env,
    }),
    outputFile: path.join(outDir, `${name}.out`),
  });
  procs.push(app);
  return { app, run };
}

/**
 * Waits for the sender to end, then for its records on disk; reconciles them with its final stats:
 * emitted = unique arrived + counted drops, and none missing beyond the drops.
 */
async function reconcile(
  name: string,
  app: Started,
  run: string,
  faultAttempts: number | string,
  spilledBytes: number,
  /** Runs once the app has exited, before the records are awaited; may measure the fault itself. */
  afterExit?: () => { faultAttempts: number; spilledBytes: number },
): Promise<{ emitted: number; unique: number; drops: number }> {
  await app.exited();
  const measured = afterExit?.();
  if (measured) ({ faultAttempts, spilledBytes } = measured);
  const { emitted, unique, duplicates, missing, dropped: nonZero, drops, stats } = await reconcileSender(app, col.dataDir, run);
  const row = { case: name, emitted, arrived: unique, duplicates, drops: nonZero, missing: missing.length, faultAttempts, spilledBytes };
  results.push(row);
  console.log(`${name}: ${JSON.stringify(row)}; sender stats before exit ${JSON.stringify(stats)}`);
  expect(emitted).toBeGreaterThan(0);
  // nothing lost without a count
  expect({ unique: unique + drops, firstMissing: missing.slice(0, 10) }).toEqual({ unique: emitted, firstMissing: drops ? missing.slice(0, 10) : [] });
  expect(duplicates).toBeLessThanOrEqual(emitted / 100);
  return { emitted, unique, drops };
}

/** One proxy fault case: stream BEFORE_MS, fault for faultMs, then forward until the sender ends. */
async function proxyCase(name: string, mode: FaultMode, faultMs: number, env: Record<string, string> = {}) {
  proxy.mode = 'forward';
  const { app, run } = sender(name, proxy.endpoint, BEFORE_MS + faultMs + AFTER_MS, env);
  await waitFor('the sender emitting', () => outputJsonLines(app).some((l) => l.seq > 0), { timeoutMs: 20_000, proc: app });
  await sleep(BEFORE_MS);
  const from = Date.now();
  proxy.mode = mode;
  await sleep(faultMs);
  // what the spill holds on disk as the fault ends (written within its 1 s flush interval)
  const spilledBytes = spillBytes(path.join(outDir, `spill-${name}`));
  proxy.mode = 'forward';
  const to = Date.now();
  const attempts = proxy.count('/v1/logs', from, to);
  const r = await reconcile(name, app, run, attempts, spilledBytes);
  return { ...r, attempts, spilledBytes };
}

test('503 with Retry-After: 2 for 8 s, then forward: every record arrives, a handful of attempts during the 503s', async () => {
  const r = await proxyCase('503', '503', 8000);
  expect(r.spilledBytes).toBeGreaterThan(0); // refused batches went to disk, not to memory
  expect(r.drops).toBe(0);
  expect(r.unique).toBe(r.emitted);
  // Retry-After 2 s over 8 s: about 4 rounds; a busy loop would be hundreds
  expect(r.attempts).toBeGreaterThan(0);
  expect(r.attempts).toBeLessThanOrEqual(12);
});

test('429 with Retry-After: 1 for 6 s, then forward: every record arrives, a handful of attempts during the 429s', async () => {
  const r = await proxyCase('429', '429', 6000);
  expect(r.spilledBytes).toBeGreaterThan(0);
  expect(r.drops).toBe(0);
  expect(r.unique).toBe(r.emitted);
  expect(r.attempts).toBeGreaterThan(0);
  expect(r.attempts).toBeLessThanOrEqual(16);
});

test('black hole (accepts, never answers) for 8 s, then forward: every record arrives (timeouts, spill, replay)', async () => {
  const r = await proxyCase('blackhole', 'blackhole', 8000, { OTEL_EXPORTER_OTLP_TIMEOUT: '2000', OTEL_BLRP_EXPORT_TIMEOUT: '2000' });
  expect(r.spilledBytes).toBeGreaterThan(0); // stalled and timed-out batches went to disk
  expect(r.drops).toBe(0);
  expect(r.unique).toBe(r.emitted);
  // held, not refused: each export waits out its 2 s timeout before the next round
  expect(r.attempts).toBeGreaterThan(0);
  expect(r.attempts).toBeLessThanOrEqual(40);
});

test('slow collector (each answer 2 s late) for 10 s, then forward: every record arrives', async () => {
  const r = await proxyCase('slow', 'slow', 10_000);
  expect(r.attempts).toBeGreaterThan(0);
  expect(r.drops).toBe(0);
  expect(r.unique).toBe(r.emitted);
});

test('collector restarted with SIGTERM mid-stream (down ~3 s): every record arrives', async () => {
  const { app, run } = sender('sigterm', col.otlpHttpEndpoint, BEFORE_MS + 3000 + AFTER_MS);
  await waitFor('the sender emitting', () => outputJsonLines(app).some((l) => l.seq > 0), { timeoutMs: 20_000, proc: app });
  await sleep(BEFORE_MS);
  await col.stop();
  await sleep(3000);
  const spilledBytes = spillBytes(path.join(outDir, 'spill-sigterm'));
  await col.restart();
  const r = await reconcile('collector SIGTERM + restart', app, run, '-', spilledBytes);
  expect(r.drops).toBe(0);
  expect(r.unique).toBe(r.emitted);
});

test('app ends (SIGTERM) inside a black hole: what it held is spilled, and a successor of the service delivers it', async () => {
  proxy.mode = 'forward';
  const { app, run } = sender('blackhole-exit', proxy.endpoint, BEFORE_MS + 4000);
  await waitFor('the sender emitting', () => outputJsonLines(app).some((l) => l.seq > 0), { timeoutMs: 20_000, proc: app });
  await sleep(BEFORE_MS);
  const from = Date.now();
  proxy.mode = 'blackhole';
  let spilledBytes = 0;
  const r = await reconcile('app SIGTERM inside a black hole + successor', app, run, 0, 0, () => {
    // the app is gone (its exit flush gave up on the held exports): the proxy forwards again and a
    // successor (same service and spill directory, emitting nothing) replays what the app spilled
    spilledBytes = spillBytes(path.join(outDir, 'spill-blackhole-exit'));
    proxy.mode = 'forward';
    const faultAttempts = proxy.count('/v1/logs', from, Date.now());
    sender('blackhole-exit-successor', proxy.endpoint, 20_000, {
      OTEL_SERVICE_NAME: 'faults-e2e-blackhole-exit',
      CCR_OTEL_SPILL_DIR: path.join(outDir, 'spill-blackhole-exit'),
      RATE: '0',
      RUN: `${run}-successor`,
    });
    return { faultAttempts, spilledBytes };
  });
  expect(spilledBytes).toBeGreaterThan(0);
  expect(r.drops).toBe(0);
  expect(r.unique).toBe(r.emitted);
});
