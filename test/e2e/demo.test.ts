/** The demo (demo/run.mjs) runs start to end non-interactively and stops everything it started. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { node24, REPO_ROOT } from '../helpers/process';


test('node demo/run.mjs --once drives traffic, reports files, Jaeger URLs and counts, and cleans up', () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-demo-'));
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', NO_COLOR: '1' };
  delete env.NODE_ENV;
  const r = spawnSync(node24(), [path.join(REPO_ROOT, 'demo', 'run.mjs'), '--once', '--requests', '60', '--burst', '6000', '--run-dir', runDir], {
    env,
    encoding: 'utf8',
    timeout: 150000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  expect({ status: r.status, out }).toMatchObject({ status: 0 });
  expect(out).toMatch(/POST \/v1\/messages.*100%\s+60\/60/);
  expect(out).toMatch(/logs\.jsonl\s+[\d.]+ MiB\s+[\d,]+ log records/);
  expect(out).toMatch(/traces\.jsonl\s+[\d.]+ MiB\s+[\d,]+ spans/);
  expect(out).toMatch(/\/api\/traces\?service=ccr-demo-gateway/);
  const summary = out.split('\n').find((l) => l.startsWith('Summary'));
  expect(summary).toMatch(/exported: [\d,]+ log records, [\d,]+ spans\s+·\s+dropped: 0/);
  expect(out).toMatch(/stopped jaeger \(pid \d+\), ccr-otelcol \(pid \d+\), gateway \(pid \d+\)/);
  // every record the processors say they exported is in the files
  const exported = Number(summary!.match(/exported: ([\d,]+) log records/)![1].replace(/,/g, ''));
  const inFiles = [...out.matchAll(/^\s+logs[-\w.:]*\.jsonl(?:\.gz)?\s+[\d.]+ MiB\s+([\d,]+) log records/gm)].reduce((a, m) => a + Number(m[1].replace(/,/g, '')), 0);
  expect(exported).toBeGreaterThan(6000);
  expect(inFiles).toBe(exported);
  for (const pid of [...out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))) {
    expect(() => process.kill(pid, 0)).toThrow();
  }
  fs.rmSync(runDir, { recursive: true, force: true });
});
