/**
 * Start and stop the real ccr-otelcol and Jaeger binaries (built by collector/build.sh) from Jest.
 *
 * Every start picks free loopback ports and a data directory under os.tmpdir(), waits until the
 * process is healthy, and registers the child so it is killed when the test process exits even if a
 * test forgot to stop it. Only PIDs started here are ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { freePorts } from './ports';
import type { Started } from './process';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const COLLECTOR_DIR = path.join(REPO_ROOT, 'collector');
export const COLLECTOR_CONFIG = path.join(COLLECTOR_DIR, 'config.yaml');
export const JAEGER_CONFIG = path.join(COLLECTOR_DIR, 'jaeger.yaml');
/** ccr-otelcol runs with this flag: its health_check extensions answer from component status (/health, /ready). */
export const COLLECTOR_FEATURE_GATES = '--feature-gates=+extension.healthcheck.useComponentStatus';

export interface RunningCollector {
  otlpHttpEndpoint: string; // e.g. http://127.0.0.1:43180 (no /v1/...)
  otlpGrpcEndpoint: string; // host:port
  healthUrl: string; // liveness: http://127.0.0.1:PORT/health
  readyUrl: string; // readiness: http://127.0.0.1:PORT/ready (500 while a file cannot be written)
  metricsUrl: string;
  dataDir: string;
  logsFile: string;
  tracesFile: string;
  metricsFile: string;
  pid: number;
  /** stdout+stderr of the collector process (appended across restarts). */
  outputFile: string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would: nothing is flushed. restart() then starts it again. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export interface RunningJaeger {
  otlpGrpcEndpoint: string;
  otlpHttpEndpoint: string;
  queryUrl: string; // http://127.0.0.1:PORT
  healthUrl: string;
  pid: number;
  outputFile: string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. start() then starts it again. */
  kill(): Promise<void>;
  /** (Re)start on the same ports and the same Badger directory: a restarted Jaeger keeps its traces. */
  start(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// binaries

const KEY_SALT = 'ccr-otel-bin-v2\n';

/** Sources of our own components that go into the binary: go.mod, go.sum and non-test .go files, paths relative to collector/. */
function componentSources(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(COLLECTOR_DIR, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (e.name === 'go.mod' || e.name === 'go.sum' || (e.name.endsWith('.go') && !e.name.endsWith('_test.go')))) out.push(p);
    }
  };
  if (fs.existsSync(path.join(COLLECTOR_DIR, 'components'))) walk('components');
  return out.sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : Buffer.from(a) > Buffer.from(b) ? 1 : 0));
}

/**
 * Same key as collector/build.sh: sha256(salt + builder-config.yaml + jaeger/go.mod + jaeger/go.sum
 * + "<path>\n" + content of each component source), first 16 hex chars.
 */
export function manifestHash(): string {
  const h = createHash('sha256');
  h.update(KEY_SALT);
  for (const f of ['builder-config.yaml', 'jaeger/go.mod', 'jaeger/go.sum']) {
    h.update(fs.readFileSync(path.join(COLLECTOR_DIR, f)));
  }
  for (const f of componentSources()) {
    h.update(`${f}\n`);
    h.update(fs.readFileSync(path.join(COLLECTOR_DIR, f)));
  }
  return h.digest('hex').slice(0, 16);
}

export function binDir(): string {
  const root = process.env.CCR_OTEL_CACHE || path.join(os.homedir(), '.cache', 'ccr-otel');
  return path.join(root, 'bin', manifestHash());
}

/** Paths of the built binaries; CCR_OTELCOL_BIN / JAEGER_BIN override. Throws when they are missing. */
export function binaries(): { collector: string; jaeger: string } {
  const dir = binDir();
  const collector = process.env.CCR_OTELCOL_BIN || path.join(dir, 'ccr-otelcol');
  const jaeger = process.env.JAEGER_BIN || path.join(dir, 'jaeger');
  const missing = [collector, jaeger].filter((p) => !isExecutable(p));
  if (missing.length) {
    throw new Error(
      `ccr-otel binaries not found: ${missing.join(', ')}.\n` +
        `Build them first with \`bash collector/build.sh\` (from ${REPO_ROOT}); ` +
        `they are cached under ${dir} (CCR_OTEL_CACHE changes the cache root).`,
    );
  }
  return { collector, jaeger };
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// child process bookkeeping

const live = new Set<ChildProcess>();
function killAllLive(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Safety net: a test that throws before its afterAll still leaves no process behind.
    process.once('exit', killAllLive);
    // Also when the test run itself is interrupted: kill ours, then let the signal do what it would
    // have done (re-raised once our listener is gone; Jest's own listeners, if any, still run).
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const onSignal = () => {
        killAllLive();
        process.removeListener(sig, onSignal);
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      };
      process.on(sig, onSignal);
    }
  }
}

/** Children started by this helper and still running (for tests that assert cleanup). */
export function liveChildren(): number[] {
  return [...live].map((c) => c.pid!).filter(Boolean);
}

/**
 * Inside Jest the test's `process` is sandboxed and its 'exit' listeners may never run, and a worker can
 * be SIGKILLed. So each child also gets a tiny detached watchdog: once this test process is gone and the
 * child is still there, it sends SIGTERM, then SIGKILL. It ends by itself when the child exits first.
 */
function startReaper(childPid: number): void {
  const script =
    'P=$1; C=$2; while kill -0 "$P" 2>/dev/null && kill -0 "$C" 2>/dev/null; do sleep 1; done; ' +
    'if ! kill -0 "$P" 2>/dev/null && kill -0 "$C" 2>/dev/null; then kill -TERM "$C" 2>/dev/null; sleep 5; kill -KILL "$C" 2>/dev/null; fi';
  try {
    const r = spawn('sh', ['-c', script, 'ccr-otel-reaper', String(process.pid), String(childPid)], { stdio: 'ignore', detached: true });
    r.unref();
  } catch {
    /* best effort: the 'exit' hook and the tests' afterAll still stop the child */
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess | undefined, graceMs = 15000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([done.then(() => 'ok' as const), timer])) === 'timeout') {
    child.kill('SIGKILL');
    await done;
  }
}

async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill('SIGKILL');
  await done;
}

function spawnLogged(bin: string, args: string[], env: NodeJS.ProcessEnv, outputFile: string): ChildProcess {
  fs.mkdirSync(path.dirname(outputFile), { recursive: true });
  fs.appendFileSync(outputFile, `\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
  const fd = fs.openSync(outputFile, 'a');
  try {
    const child = spawn(bin, args, { env, stdio: ['ignore', fd, fd] });
    // Do not keep the test process alive for it: a test that forgets stop() must not hang Jest;
    // the 'exit' hook below then kills the child.
    child.unref();
    track(child);
    if (child.pid) startReaper(child.pid);
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A temporary directory for a collector's or Jaeger's files (when the test passes none): under the
 * directory jest's global setup made for this run (test/global-setup.js), which its global teardown
 * removes, so that suites may read the files after they stopped the process.
 */
function madeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(process.env.CCR_TESTS_TMPDIR ?? os.tmpdir(), prefix));
}

async function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function waitHealthy(child: ChildProcess, urls: string[], outputFile: string, what: string, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was healthy:\n${tail(outputFile)}`);
    }
    const codes = await Promise.all(urls.map((u) => httpStatus(u)));
    if (codes.every((c) => c === 200)) return;
    await sleep(100);
  }
  await stopChild(child, 2000);
  throw new Error(`${what} was not healthy within ${timeoutMs} ms (${urls.join(', ')}):\n${tail(outputFile)}`);
}

/** Environment passed to the binaries: the test's own, minus anything that would change our configs. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(CCR_OTEL_|JAEGER_|LOG_ROTATION_SIZE$|LOG_MAX_FILES$|LOG_MAX_DAYS$|LOG_COMPRESSION$)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// collector

export async function startCollector(
  opts: { jaegerOtlpEndpoint?: string; env?: Record<string, string>; dataDir?: string; configPath?: string } = {},
): Promise<RunningCollector> {
  const { collector: bin } = binaries();
  const dataDir = opts.dataDir ?? madeTempDir('ccr-otelcol-');
  fs.mkdirSync(dataDir, { recursive: true });
  const host = '127.0.0.1';
  const [grpcPort, httpPort, healthPort, readyPort, metricsPort, noJaegerPort] = await freePorts(6);
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    CCR_OTEL_HOST: host,
    CCR_OTEL_GRPC_PORT: String(grpcPort),
    CCR_OTEL_HTTP_PORT: String(httpPort),
    CCR_OTEL_HEALTH_PORT: String(healthPort),
    CCR_OTEL_READY_PORT: String(readyPort),
    CCR_OTEL_METRICS_PORT: String(metricsPort),
    CCR_OTEL_DATA_DIR: dataDir,
    CCR_OTEL_STORAGE_DIR: path.join(dataDir, 'storage'),
    // Without a Jaeger, point the exporter at a port nobody listens on (never at a default port
    // where a developer's own Jaeger may be running).
    JAEGER_OTLP_ENDPOINT: opts.jaegerOtlpEndpoint ?? `${host}:${noJaegerPort}`,
    ...(opts.env ?? {}),
  };
  const configPath = opts.configPath ?? COLLECTOR_CONFIG;
  const outputFile = path.join(dataDir, 'ccr-otelcol.out');
  const healthUrl = `http://${host}:${healthPort}/health`;
  const readyUrl = `http://${host}:${readyPort}/ready`;
  const metricsUrl = `http://${host}:${metricsPort}/metrics`;

  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawnLogged(bin, ['--config', configPath, COLLECTOR_FEATURE_GATES], env, outputFile);
    await waitHealthy(child, [healthUrl, readyUrl], outputFile, 'ccr-otelcol');
  };
  await launch();

  const running: RunningCollector = {
    otlpHttpEndpoint: `http://${host}:${httpPort}`,
    otlpGrpcEndpoint: `${host}:${grpcPort}`,
    healthUrl,
    readyUrl,
    metricsUrl,
    dataDir,
    logsFile: path.join(dataDir, 'logs.jsonl'),
    tracesFile: path.join(dataDir, 'traces.jsonl'),
    metricsFile: path.join(dataDir, 'metrics.jsonl'),
    get pid() {
      return child?.pid ?? -1;
    },
    outputFile,
    stop: () => stopChild(child),
    kill: () => killChild(child),
    restart: async () => {
      await stopChild(child);
      await launch();
    },
  };
  return running;
}

// ---------------------------------------------------------------------------------------------
// jaeger

export async function startJaeger(opts: { env?: Record<string, string>; configPath?: string; workDir?: string } = {}): Promise<RunningJaeger> {
  const { jaeger: bin } = binaries();
  const host = '127.0.0.1';
  const [grpcPort, httpPort, queryPort, queryGrpcPort, healthPort, metricsPort] = await freePorts(6);
  const workDir = opts.workDir ?? madeTempDir('ccr-jaeger-');
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    JAEGER_HOST: host,
    JAEGER_OTLP_GRPC_PORT: String(grpcPort),
    JAEGER_OTLP_HTTP_PORT: String(httpPort),
    JAEGER_QUERY_PORT: String(queryPort),
    JAEGER_QUERY_GRPC_PORT: String(queryGrpcPort),
    JAEGER_HEALTH_PORT: String(healthPort),
    JAEGER_METRICS_PORT: String(metricsPort),
    JAEGER_DATA_DIR: path.join(workDir, 'badger'),
    ...(opts.env ?? {}),
  };
  const configPath = opts.configPath ?? JAEGER_CONFIG;
  const outputFile = path.join(workDir, 'jaeger.out');
  const queryUrl = `http://${host}:${queryPort}`;
  const healthUrl = `http://${host}:${healthPort}/status`;

  let child: ChildProcess | undefined;
  const running: RunningJaeger = {
    otlpGrpcEndpoint: `${host}:${grpcPort}`,
    otlpHttpEndpoint: `http://${host}:${httpPort}`,
    queryUrl,
    healthUrl,
    get pid() {
      return child?.pid ?? -1;
    },
    outputFile,
    stop: () => stopChild(child),
    kill: () => killChild(child),
    start: async () => {
      await stopChild(child);
      child = spawnLogged(bin, ['--config', configPath], env, outputFile);
      await waitHealthy(child, [healthUrl, `${queryUrl}/api/services`], outputFile, 'jaeger');
    },
  };
  await running.start();
  return running;
}

// ---------------------------------------------------------------------------------------------
// files and queries

/**
 * Parse the complete OTLP-JSON lines (one export request per line) of the given files, in order;
 * `.gz` files are decompressed. A plain backup that was compressed (and removed) since it was listed
 * is read from its `.gz`; other missing files are skipped.
 */
export function readJsonLines(files: string[]): any[] {
  const out: any[] = [];
  for (const f of files) {
    const text = readSignalFile(f);
    if (text === undefined) continue;
    // The collector writes one request per line, newline last: a tail without its newline is a
    // line being written right now (the tests poll while it writes), and is read on the next poll.
    const lines = text.split('\n');
    lines.pop();
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line));
      } catch (e) {
        throw new Error(`${f}: a line is not JSON (${(e as Error).message}): ${line.slice(0, 200)}`);
      }
    }
  }
  return out;
}

/** The text of one current or rotated file (`.gz` decompressed); undefined when it is gone. */
export function readSignalFile(f: string): string | undefined {
  const candidates = isBackup(f) && !f.endsWith('.gz') ? [f, `${f}.gz`] : [f];
  for (const candidate of candidates) {
    try {
      const data = fs.readFileSync(candidate);
      return candidate.endsWith('.gz') ? zlib.gunzipSync(data).toString('utf8') : data.toString('utf8');
    } catch (e: any) {
      if (e.code !== 'ENOENT') throw e;
    }
  }
  return undefined;
}

/** `<signal>-<timestamp>.jsonl[.gz]`: a rotated backup (the current file is `<signal>.jsonl`). */
const BACKUP_NAME = /^(logs|traces|metrics)-(.+)\.jsonl(\.gz)?$/;
function isBackup(f: string): boolean {
  return BACKUP_NAME.test(path.basename(f));
}

/**
 * The current file of one signal plus its rotated backups, oldest first, current last. Backups are
 * `<signal>-<timestamp>.jsonl.gz` (or `.jsonl` before they are compressed, or with LOG_COMPRESSION=none);
 * a backup present both ways for a moment (compressed, plain not yet removed) is listed once, as `.gz`.
 */
export function signalFiles(dataDir: string, signal: 'logs' | 'traces' | 'metrics'): { current: string; rotated: string[]; all: string[] } {
  const current = path.join(dataDir, `${signal}.jsonl`);
  const byStamp = new Map<string, string>();
  if (fs.existsSync(dataDir)) {
    for (const n of fs.readdirSync(dataDir)) {
      const m = BACKUP_NAME.exec(n);
      if (!m || m[1] !== signal) continue;
      if (!byStamp.has(m[2]) || m[3]) byStamp.set(m[2], n);
    }
  }
  const rotated = [...byStamp.keys()].sort().map((stamp) => path.join(dataDir, byStamp.get(stamp)!));
  return { current, rotated, all: [...rotated, current] };
}

/** POST an OTLP-JSON body to the collector's OTLP/HTTP receiver; throws on a non-2xx answer. */
export async function postOtlpJson(otlpHttpEndpoint: string, signal: 'logs' | 'traces' | 'metrics', body: unknown): Promise<void> {
  const res = await fetch(`${otlpHttpEndpoint}/v1/${signal}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST /v1/${signal} -> ${res.status}: ${text.slice(0, 500)}`);
}

/**
 * Poll Jaeger's query API until a trace of `serviceName` matching `predicate` shows up.
 * Returns the trace in the /api/traces shape: { traceID, spans: [{ operationName, tags, logs: [{ fields }] }], processes }
 * (span events are `logs`, the event name in the field `event`). Throws after timeoutMs (default 30 s).
 */
export async function findTraceInJaeger(
  queryUrl: string,
  serviceName: string,
  opts: { timeoutMs?: number; predicate?: (trace: any) => boolean } = {},
): Promise<any> {
  const found = await findTracesInJaeger(queryUrl, serviceName, {
    timeoutMs: opts.timeoutMs,
    until: (traces) => traces.some((t) => !opts.predicate || opts.predicate(t)),
  });
  return found.find((t) => !opts.predicate || opts.predicate(t));
}

/** Poll until `until(traces)` holds (default: at least one trace); returns all traces of the service. */
export async function findTracesInJaeger(
  queryUrl: string,
  serviceName: string,
  opts: { timeoutMs?: number; until?: (traces: any[]) => boolean; limit?: number } = {},
): Promise<any[]> {
  const timeoutMs = opts.timeoutMs ?? 30000;
  const until = opts.until ?? ((t: any[]) => t.length > 0);
  const deadline = Date.now() + timeoutMs;
  let last: any[] = [];
  let lastStatus = 0;
  for (;;) {
    const nowUs = Date.now() * 1000;
    const url =
      `${queryUrl}/api/traces?service=${encodeURIComponent(serviceName)}` +
      `&start=${nowUs - 3600e6}&end=${nowUs + 60e6}&limit=${opts.limit ?? 10000}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      lastStatus = res.status;
      if (res.ok) {
        const body: any = await res.json();
        last = Array.isArray(body?.data) ? body.data : [];
        if (until(last)) return last;
      } else {
        await res.arrayBuffer();
      }
    } catch {
      lastStatus = 0;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Jaeger at ${queryUrl} has no matching trace for service "${serviceName}" after ${timeoutMs} ms ` +
          `(last status ${lastStatus}, ${last.length} trace(s) of that service)`,
      );
    }
    await sleep(250);
  }
}

/** One trace by id through /api/traces/{id} (hex trace id), or undefined when Jaeger does not have it. */
export async function getJaegerTrace(queryUrl: string, traceId: string): Promise<any | undefined> {
  const res = await fetch(`${queryUrl}/api/traces/${traceId}`, { signal: AbortSignal.timeout(5000) });
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  if (!res.ok) throw new Error(`GET /api/traces/${traceId} -> ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const body: any = await res.json();
  return Array.isArray(body?.data) ? body.data[0] : undefined;
}

/** Jaeger prints a 128-bit trace id whose high half is zero as 16 hex chars; compare ids through this. */
export function normTraceId(id: string): string {
  return id.toLowerCase().padStart(32, '0');
}

/**
 * A suite's teardown: SIGKILLs its children still running, stops its collectors, removes their data
 * and `dirs`. Never throws: a failed stop must not hide the suite's own failure.
 */
export async function tearDown(procs: Started[], collectors: Array<RunningCollector | undefined>, dirs: string[]): Promise<void> {
  for (const p of procs) await p.stop('SIGKILL').catch(() => undefined);
  for (const c of collectors) {
    if (!c) continue;
    await c.stop().catch(() => undefined);
    fs.rmSync(c.dataDir, { recursive: true, force: true });
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
