/**
 * The real Claude Code Router 3.1.1, installed by test/fixtures/ccr/install.sh into a cache outside
 * the repository, run as `node …/dist/main/cli.js serve --no-open` with a temporary HOME.
 *
 * What CCR 3.1.1 does (read from its dist and measured):
 * - Config: on start it reads a legacy JSON config from ~/.claude-code-router/config.json (the first
 *   of a few candidates that exists), imports it into ~/.claude-code-router/config.sqlite and moves
 *   the JSON away; later starts read the SQLite store. A fresh HOME per run keeps that clean.
 * - Ports: `PORT` in the config is the gateway's listening port (default 3456), `HOST` its address;
 *   CCR also derives `gateway.corePort` = PORT + 1 (nothing listened there in our runs; the tests pick
 *   PORT so that PORT + 1 is free anyway). `serve --port N` (or CCR_WEB_PORT) is the management
 *   UI/RPC port (default 3458; CCR moves to the next free port when it is taken).
 * - Processes: `serve` spawns the gateway (`gateway-bootstrap.js`, via fork with process.execPath)
 *   which binds PORT; NODE_OPTIONS reaches it. SIGTERM to `serve` stops both.
 * - Logs: the gateway writes pino JSON lines to its stdout, which `serve` reads and re-prints,
 *   mostly prefixed with "[gateway] ". GATEWAY_LOG_LEVEL=info makes it log each upstream request.
 *   CCR redacts the authorization header in those lines itself.
 * - Auth: clients send the config's APIKEY as `x-api-key`; a wrong key gets 401.
 * - Models: a request must name one of the provider's `models` ("Model X is not configured" otherwise).
 * - `ccr start` spawns `cli.js serve --daemon-child` detached with stdio ignored and records its pid in
 *   ~/.claude-code-router/service.json; `ccr stop` reads it. Each CLI takes about 2 s here.
 * - At start-up the serve process fetches model catalogues from the internet (GitHub, openrouter.ai,
 *   models.dev); without a network those fail quietly and show up as client spans with errors.
 * - Providers: { name, api_base_url, api_key, models, protocol: "openai_chat_completions" };
 *   a trailing /chat/completions on api_base_url is stripped. Router.default "<provider>,<model>".
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, isListening } from './ports';
import { childEnv, node24, OTEL_SETUP_DIR, REPO_ROOT, start, waitFor, type Started } from './process';

export const CCR_VERSION = '3.1.1';

/** Installs CCR into the cache when it is not there yet (about 90 s: compiles better-sqlite3) and returns its package dir. */
export function installCcr(): string {
  const script = path.join(REPO_ROOT, 'test', 'fixtures', 'ccr', 'install.sh');
  const out = execFileSync('bash', [script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60 * 1000,
    env: { ...process.env, CCR_VERSION },
  });
  const dir = out.trim().split('\n').pop()!;
  if (!fs.existsSync(path.join(dir, 'dist', 'main', 'cli.js'))) throw new Error(`CCR install did not produce ${dir}/dist/main/cli.js`);
  return dir;
}

export interface CcrOptions {
  upstreamUrl: string; // http://127.0.0.1:PORT of an OpenAI-compatible upstream
  apiKey: string; // the key clients send to CCR
  providerKey: string; // the key CCR sends upstream
  model?: string; // the provider's model name (default fake-model)
  /** The provider's API: OpenAI chat completions (default) or Anthropic messages. */
  protocol?: CcrProtocol;
  /** OTLP/HTTP endpoint of the collector; when absent CCR runs without the preload. */
  otlpEndpoint?: string;
  serviceName?: string;
  /** Extra environment for every CCR process. */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface RunningCcr {
  gatewayUrl: string; // http://127.0.0.1:PORT
  port: number;
  managementUrl: string;
  home: string;
  proc: Started;
  /** PID of the gateway child (gateway-bootstrap.js). */
  gatewayPid: number;
  output(): string;
  stop(): Promise<void>;
}

/** A port p with p+1 also free (CCR's gateway reserves PORT + 1 as its core port). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && !(await isListening(p + 1)) && (await canBind(p + 1))) return p;
  }
  throw new Error('no free pair of ports');
}

function canBind(port: number): Promise<boolean> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require('node:net') as typeof import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export type CcrProtocol = 'openai_chat_completions' | 'anthropic_messages';

export function writeCcrConfig(
  home: string,
  o: { port: number; upstreamUrl: string; apiKey: string; providerKey: string; model: string; protocol?: CcrProtocol },
): string {
  const protocol = o.protocol ?? 'openai_chat_completions';
  const dir = path.join(home, '.claude-code-router');
  fs.mkdirSync(dir, { recursive: true });
  const config = {
    APIKEY: o.apiKey,
    HOST: '127.0.0.1',
    PORT: o.port,
    Providers: [
      {
        name: 'fake',
        api_base_url: protocol === 'anthropic_messages' ? `${o.upstreamUrl}/v1/messages` : `${o.upstreamUrl}/v1/chat/completions`,
        api_key: o.providerKey,
        models: [o.model],
        protocol,
      },
    ],
    Router: { default: `fake,${o.model}` },
  };
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** PID of a descendant of `root` whose command line matches `re` (Linux /proc), or undefined. */
export function findDescendant(root: number, re: RegExp): number | undefined {
  const parent = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      /* gone */
    }
  }
  for (const [pid] of parent) {
    let p: number | undefined = pid;
    let depth = 0;
    while (p && p !== root && depth++ < 10) p = parent.get(p);
    if (p !== root || pid === root) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (re.test(cmd)) return pid;
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** Environment for every CCR process: temporary HOME, Node 24 first in PATH, the preload when otlpEndpoint is set. */
export function ccrEnv(home: string, o: Pick<CcrOptions, 'otlpEndpoint' | 'serviceName' | 'env'>): NodeJS.ProcessEnv {
  const node = node24();
  const telemetry: Record<string, string | undefined> = o.otlpEndpoint
    ? {
        NODE_OPTIONS: `--require ${OTEL_SETUP_DIR}`,
        OTEL_EXPORTER_OTLP_ENDPOINT: o.otlpEndpoint,
        OTEL_SERVICE_NAME: o.serviceName ?? 'claude-code-router',
        LOG_LEVEL: 'info',
        CCR_OTEL_CAPTURE_STDOUT: 'true',
        // keep the captured lines in CCR's own output too (for debugging a failed run)
        CCR_OTEL_CAPTURE_STDOUT_TEE: 'true',
        OTEL_METRIC_EXPORT_INTERVAL: '2000',
      }
    : {};
  return childEnv({
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    PATH: `${path.dirname(node)}:${process.env.PATH ?? ''}`,
    GATEWAY_LOG_LEVEL: 'info',
    CCR_WEB_AUTH_TOKEN: randomBytes(16).toString('hex'),
    ...telemetry,
    ...(o.env ?? {}),
  });
}

/** A fresh temporary HOME with a config.json, and free ports for the gateway (PORT, PORT+1) and the management UI. */
export async function prepareCcrHome(
  o: Pick<CcrOptions, 'upstreamUrl' | 'apiKey' | 'providerKey' | 'model' | 'protocol'>,
): Promise<{ home: string; port: number; mgmtPort: number }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-home-'));
  const port = await freePortPair();
  const mgmtPort = await freePort();
  writeCcrConfig(home, { port, upstreamUrl: o.upstreamUrl, apiKey: o.apiKey, providerKey: o.providerKey, model: o.model ?? 'fake-model', protocol: o.protocol });
  return { home, port, mgmtPort };
}

/** Runs the `ccr` CLI (`cli.js ...args`) to completion; returns its exit code, output and how long it took. */
export async function runCcrCli(
  pkgDir: string,
  home: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; output: string }> {
  const t0 = Date.now();
  const p = start(node24(), [path.join(pkgDir, 'dist', 'main', 'cli.js'), ...args], {
    env,
    cwd: home,
    outputFile: path.join(home, `ccr-${args[0]}-${t0}.out`),
  });
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.exited(), new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)))]);
  clearTimeout(timer);
  if (r === 'timeout') {
    await p.stop('SIGKILL', 1000);
    throw new Error(`ccr ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${p.output()}`);
  }
  return { ...r, ms: Date.now() - t0, output: p.output() };
}

/** PID of the detached service `ccr start` left behind (from ~/.claude-code-router/service.json). */
export function ccrServicePid(home: string): number | undefined {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(home, '.claude-code-router', 'service.json'), 'utf8'));
    return typeof j.pid === 'number' ? j.pid : undefined;
  } catch {
    return undefined;
  }
}

export async function startCcr(pkgDir: string, o: CcrOptions): Promise<RunningCcr> {
  const { home, port, mgmtPort } = await prepareCcrHome(o);
  const node = node24();
  const env = ccrEnv(home, o);
  const proc = start(node, [path.join(pkgDir, 'dist', 'main', 'cli.js'), 'serve', '--no-open', '--host', '127.0.0.1', '--port', String(mgmtPort)], {
    env,
    cwd: home,
    outputFile: path.join(home, 'ccr.out'),
    group: true,
  });
  const stop = async () => {
    await proc.stop('SIGTERM', 15000);
  };
  let gatewayPid = -1;
  try {
    // With CCR_OTEL_CAPTURE_STDOUT the gateway's JSON lines go to the collector, not to the output,
    // so readiness is: the gateway child exists and its port accepts connections.
    gatewayPid = await waitFor(
      `CCR gateway on port ${port}`,
      async () => {
        const pid = findDescendant(proc.pid, /gateway-bootstrap\.js/);
        return pid && (await isListening(port)) ? pid : undefined;
      },
      { proc, timeoutMs: o.startTimeoutMs ?? 60000, intervalMs: 200 },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const mgmt = proc.output().match(/running at (http:\/\/127\.0\.0\.1:\d+)\//);
  return {
    gatewayUrl: `http://127.0.0.1:${port}`,
    port,
    managementUrl: mgmt ? mgmt[1] : `http://127.0.0.1:${mgmtPort}`,
    home,
    proc,
    gatewayPid,
    output: () => proc.output(),
    stop,
  };
}

/** POST /v1/messages to CCR (or any Anthropic-style gateway) with x-api-key; returns status and the whole body text. */
export async function postMessages(
  baseUrl: string,
  apiKey: string,
  body: Record<string, unknown>,
): Promise<{ status: number; contentType: string; text: string }> {
  const res = await fetch(`${baseUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}
