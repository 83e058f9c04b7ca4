/**
 * Spawn, wait for and stop the processes an end-to-end test starts (sample gateway, CCR, fake
 * upstream children). Only PIDs started here are ever signalled; every child is also killed when
 * the Jest worker exits, so a failing test leaves nothing running.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface Started {
  child: ChildProcess;
  pid: number;
  /** stdout+stderr of the process, appended as it runs. */
  outputFile: string;
  output(): string;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or `signal`), then SIGKILL after graceMs. Kills the process group when detached. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<Started>();
const groups = new WeakSet<Started>();
let hook = false;

function killGroupOrPid(s: Started, signal: NodeJS.Signals, group: boolean): void {
  try {
    if (group) process.kill(-s.pid, signal);
    else s.child.kill(signal);
  } catch {
    /* gone */
  }
}

/**
 * Start `cmd args` with output into `outputFile`. `group: true` starts it as a process-group leader so
 * `stop()` can also reach grandchildren it spawned (CCR's gateway) by the group id.
 */
export function start(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; outputFile: string; group?: boolean },
): Started {
  fs.mkdirSync(path.dirname(opts.outputFile), { recursive: true });
  const fd = fs.openSync(opts.outputFile, 'a');
  let child: ChildProcess;
  try {
    const so: SpawnOptions = { env: opts.env, cwd: opts.cwd, stdio: ['ignore', fd, fd], detached: !!opts.group };
    child = spawn(cmd, args, so);
  } finally {
    fs.closeSync(fd);
  }
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const group = !!opts.group;
  const s: Started = {
    child,
    pid: child.pid,
    outputFile: opts.outputFile,
    output: () => {
      try {
        return fs.readFileSync(opts.outputFile, 'utf8');
      } catch {
        return '';
      }
    },
    exited: () => exit,
    stop: async (signal = 'SIGTERM', graceMs = 15000) => {
      if (child.exitCode === null && child.signalCode === null) {
        killGroupOrPid(s, signal, false);
        let timer: NodeJS.Timeout | undefined;
        const t = await Promise.race([exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)))]);
        clearTimeout(timer);
        if (t === 'timeout') killGroupOrPid(s, 'SIGKILL', false);
      }
      const result = await exit;
      // the leader is gone: end whatever it left in its group (CCR's gateway child), by group id
      if (group) {
        await sleep(200);
        killGroupOrPid(s, 'SIGTERM', true);
        await sleep(300);
        killGroupOrPid(s, 'SIGKILL', true);
      }
      live.delete(s);
      return result;
    },
  };
  live.add(s);
  if (group) groups.add(s);
  exit.then(() => {
    if (!group) live.delete(s);
  });
  if (!hook) {
    hook = true;
    process.once('exit', () => {
      for (const p of live) {
        killGroupOrPid(p, 'SIGKILL', false);
        if (groups.has(p)) killGroupOrPid(p, 'SIGKILL', true);
      }
    });
  }
  return s;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Wait until `check()` returns a truthy value; fail with the process output when it exits first or time runs out. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; proc?: Started } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30000);
  for (;;) {
    const p = opts.proc;
    if (p && (p.child.exitCode !== null || p.child.signalCode !== null)) {
      throw new Error(`${what}: process ${p.pid} exited (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${tail(p.output())}`);
    }
    let v: T | undefined | false;
    try {
      v = await check();
    } catch {
      v = undefined;
    }
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${opts.timeoutMs ?? 30000} ms${p ? `; output:\n${tail(p.output())}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/** Wait for a line matching `re` in the process output; returns the match. */
export function waitForOutput(proc: Started, re: RegExp, timeoutMs = 30000): Promise<RegExpMatchArray> {
  return waitFor(`waiting for ${re} in the output of ${proc.pid}`, () => proc.output().match(re) ?? undefined, { proc, timeoutMs });
}

export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** True while a PID exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The Node 24 the repository pins (npm package `node@24`), else the node running the tests. */
export function node24(): string {
  for (const c of [path.join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node'), path.join(REPO_ROOT, 'node_modules', '.bin', 'node')]) {
    if (fs.existsSync(c)) return fs.realpathSync(c);
  }
  return process.execPath;
}

/** Absolute path of the preload to pass to `node -r` / NODE_OPTIONS="--require …". */
export const OTEL_SETUP_DIR = path.join(REPO_ROOT, 'packages', 'otel-setup');

/**
 * Environment for an instrumented child: the test's own without NODE_ENV=test (whose profile exports
 * nothing) and without any OTEL_* / CCR_OTEL_* of the developer's, plus `extra`.
 */
export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_ENV' || k === 'NODE_OPTIONS' || k.startsWith('OTEL_') || k.startsWith('CCR_OTEL_') || k.startsWith('JEST_')) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}
