import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonLines, signalFiles } from './collector';
import { attrValue, logRecordsOf, spansOf } from './otlp-json';
import { waitFor, type Started } from './process';

/** The JSON lines a child process printed (its reports: emitted counts, stats), in order. */
export function outputJsonLines(p: Started): any[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return {};
      }
    });
}

/**
 * How many times each sequence number of one run (attributes `run` and `seq`, as the test senders
 * write them on log records or spans) is in the collector's files of that signal, current and rotated backups.
 */
export function seqsOnDisk(dataDir: string, run: string, signal: 'logs' | 'traces' = 'logs'): Map<number, number> {
  const counts = new Map<number, number>();
  // one file at a time: a long run's files hold millions of records
  for (const file of signalFiles(dataDir, signal).all) {
    const requests = readJsonLines([file]);
    for (const r of signal === 'logs' ? logRecordsOf(requests) : spansOf(requests)) {
      if (attrValue(r.attributes, 'run') !== run) continue;
      const seq = attrValue(r.attributes, 'seq') as number;
      counts.set(seq, (counts.get(seq) ?? 0) + 1);
    }
  }
  return counts;
}

/** Sequence numbers 0..upTo-1 against what arrived: the missing ones, the copies beyond the first, the unique count. */
export function tally(counts: Map<number, number>, upTo: number): { missing: number[]; duplicates: number; unique: number } {
  const missing: number[] = [];
  let duplicates = 0;
  for (let s = 0; s < upTo; s++) {
    const n = counts.get(s) ?? 0;
    if (n === 0) missing.push(s);
    if (n > 1) duplicates += n - 1;
  }
  return { missing, duplicates, unique: upTo - missing.length };
}

/** Bytes of spill segment files (`*.spill`) under `dir`, at any depth; 0 when there are none. */
export function spillBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.spill')) total += fs.statSync(p, { throwIfNoEntry: false })?.size ?? 0;
    }
  };
  walk(dir);
  return total;
}

/** A test sender's records (spill-sender.js) against the collector's files. */
export interface Reconciled {
  exit: { code: number | null; signal: NodeJS.Signals | null };
  emitted: number;
  /** The sender's stats: the final ones (after shutdown(), EXIT=shutdown) when it printed them, else those it printed as it stopped emitting. */
  stats: any;
  final: boolean;
  unique: number;
  duplicates: number;
  missing: number[];
  /** Records counted as dropped in `stats`: the non-zero reasons, and their sum. */
  dropped: Record<string, number>;
  drops: number;
}

/**
 * Waits for a test sender to end, then polls the collector's files until every record it emitted is
 * there or counted as dropped (at most `timeoutMs`, default 20 s), and tallies them.
 */
export async function reconcileSender(
  app: Started,
  dataDir: string,
  run: string,
  opts: { signal?: 'logs' | 'traces'; timeoutMs?: number } = {},
): Promise<Reconciled> {
  const exit = await app.exited();
  const lines = outputJsonLines(app);
  const end = lines.find((l) => l.emitted !== undefined);
  if (!end) throw new Error(`the sender printed no count (exit ${JSON.stringify(exit)}):\n${app.output().slice(-2000)}`);
  const finalLine = lines.find((l) => l.final !== undefined);
  const stats = finalLine?.final ?? end.stats;
  const emitted: number = end.emitted;
  const dropped: Record<string, number> = Object.fromEntries(Object.entries(stats?.dropped ?? {}).filter(([, v]) => (v as number) > 0)) as Record<string, number>;
  const drops = Object.values(dropped).reduce((a, b) => a + b, 0);
  const signal = opts.signal ?? 'logs';
  const counts = await waitFor(
    'every emitted record on disk',
    () => {
      const c = seqsOnDisk(dataDir, run, signal);
      return c.size + drops >= emitted ? c : undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 20_000, intervalMs: 500 },
  ).catch(() => seqsOnDisk(dataDir, run, signal));
  return { exit, emitted, stats, final: finalLine !== undefined, ...tally(counts, emitted), dropped, drops };
}
