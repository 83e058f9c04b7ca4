import * as http from 'node:http';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

/** An OTLP/HTTP JSON sink on 127.0.0.1 that keeps every body it receives. */
export interface Sink {
  url: string;
  bodies: { path: string; text: string }[];
  logs(): any[];
  spans(): any[];
  close(): Promise<void>;
  waitFor(pred: () => boolean, ms?: number): Promise<boolean>;
}

export async function startSink(): Promise<Sink> {
  const bodies: { path: string; text: string }[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', text });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const parsed = (p: string) => bodies.filter((b) => b.path === p).map((b) => JSON.parse(b.text));
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    logs: () =>
      parsed('/v1/logs').flatMap((b) =>
        b.resourceLogs.flatMap((rl: any) =>
          rl.scopeLogs.flatMap((sl: any) => sl.logRecords.map((r: any) => ({ ...r, resource: rl.resource, scope: sl.scope }))),
        ),
      ),
    spans: () =>
      parsed('/v1/traces').flatMap((b) =>
        b.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => ({ ...s, resource: rs.resource, scope: ss.scope })))),
      ),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
    waitFor: async (pred, ms = 10000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (pred()) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return pred();
    },
  };
}

export const PKG_DIR = path.resolve(__dirname, '..');

/** Env for a child that exports everything to the sink as OTLP/JSON, quickly. */
export function childEnv(sink: Sink, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_') || k.startsWith('CCR_OTEL_') || k === 'LOG_LEVEL' || k === 'NODE_OPTIONS') delete env[k];
  return {
    ...env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BLRP_SCHEDULE_DELAY: '50',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_METRIC_EXPORT_INTERVAL: '60000',
    // the production profile spills under ~/.cache: tests that want the spill give it a directory
    CCR_OTEL_SPILL_DIR: 'off',
    ...extra,
  };
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runChild(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { onStdout?: (s: string, kill: (sig: NodeJS.Signals) => void) => void; timeoutMs?: number } = {},
): Promise<ChildResult> {
  const t0 = Date.now();
  const child = spawn(process.execPath, args, { cwd: PKG_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    opts.onStdout?.(stdout, (sig) => child.kill(sig));
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20000);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setTimeout(() => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }), 20);
    }),
  );
}

export function attr(list: any[] | undefined, key: string): any {
  const a = (list ?? []).find((x: any) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue ?? v.arrayValue;
}
