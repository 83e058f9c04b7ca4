import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who owns a spill directory: written once, in a file named `lock`, before the directory
 * gets its final name (so a directory that has a name always has a whole lock).
 */
export interface ProcessLock {
  pid: number;
  /**
   * The process's start time: on Linux field 22 of /proc/<pid>/stat (clock ticks since boot),
   * which tells a reused pid apart; elsewhere the time origin in ms (only compared with itself).
   */
  start: string;
  /** 'proc' when `start` came from /proc and can be checked against another process. */
  startSource: 'proc' | 'clock';
  host: string;
}

export const LOCK_FILE = 'lock';

/** Field 22 (starttime) of /proc/<pid>/stat, or undefined when there is no such file. */
export function procStartTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3];
  } catch {
    return undefined;
  }
}

/** Whether no process has `pid` (EPERM means one does, under another user). */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

let own: ProcessLock | undefined;

/** This process's lock. */
export function ownLock(): ProcessLock {
  if (!own) {
    const fromProc = procStartTime('self');
    own = {
      pid: process.pid,
      start: fromProc ?? String(Math.round(performance.timeOrigin)),
      startSource: fromProc ? 'proc' : 'clock',
      host: hostname(),
    };
  }
  return own;
}

export function encodeLock(lock: ProcessLock): string {
  return JSON.stringify(lock) + '\n';
}

/** The lock in `text`, or undefined when it is not one. */
export function parseLock(text: string): ProcessLock | undefined {
  try {
    const v = JSON.parse(text) as ProcessLock;
    if (!Number.isInteger(v.pid) || v.pid <= 0 || typeof v.start !== 'string' || typeof v.host !== 'string') return undefined;
    if (v.startSource !== 'proc' && v.startSource !== 'clock') return undefined;
    return v;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that wrote `lock` is gone: no process has its pid (ESRCH), or one
 * does but started at another time (the pid was reused). A lock from another host is never
 * taken for dead: its process cannot be checked from here.
 */
export function lockHolderDead(lock: ProcessLock): boolean {
  if (lock.host !== hostname()) return false;
  if (pidGone(lock.pid)) return true;
  if (lock.startSource !== 'proc') return false;
  const start = procStartTime(lock.pid);
  return start !== undefined && start !== lock.start;
}
