import { readJsonLines, signalFiles } from './collector';
import { attrValue, logRecordsOf } from './otlp-json';
import type { Started } from './process';

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
 * How many times each sequence number of one run (log attributes `run` and `seq`, as the test
 * senders write them) is in the collector's log files, current and rotated backups.
 */
export function seqsOnDisk(dataDir: string, run: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const r of logRecordsOf(readJsonLines(signalFiles(dataDir, 'logs').all))) {
    if (attrValue(r.attributes, 'run') !== run) continue;
    const seq = attrValue(r.attributes, 'seq') as number;
    counts.set(seq, (counts.get(seq) ?? 0) + 1);
  }
  return counts;
}
