/**
 * Liveness and readiness with the real collector. A full disk is simulated with the file size limit
 * (RLIMIT_FSIZE, set on the running collector with prlimit): the next write fails with EFBIG. The
 * sender is then answered 503 (it retries), readiness turns 500 while liveness stays 200, nothing of
 * the failed request is left in the file, and once the disk has room the retried request is written
 * once and the collector is ready again.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { readJsonLines, startCollector, type RunningCollector } from '../helpers/collector';
import { attrValue, logRecordsOf, logsRequest } from '../helpers/otlp-json';

let col: RunningCollector | undefined;

afterAll(async () => {
  await col?.stop();
  if (col) fs.rmSync(col.dataDir, { recursive: true, force: true });
});

async function status(url: string): Promise<{ code: number; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { code: res.status, body: text ? JSON.parse(text) : undefined };
}

async function post(body: unknown): Promise<number> {
  const res = await fetch(`${col!.otlpHttpEndpoint}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Sets the collector's soft file size limit (the hard one stays unlimited, so it can be raised again). */
function prlimit(soft: string): void {
  const r = spawnSync('prlimit', ['--pid', String(col!.pid), `--fsize=${soft}:unlimited`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prlimit --fsize=${soft}:unlimited failed (needs util-linux prlimit): ${r.stderr || r.error}`);
}

const seqs = () => logRecordsOf(readJsonLines([col!.logsFile])).map((r) => attrValue(r.attributes, 'seq') as number);
const batch = (from: number, n: number) => logsRequest('health-test', Array.from({ length: n }, (_, i) => ({ seq: from + i, body: `r${from + i} ${'x'.repeat(200)}` })));

test('liveness on /health, readiness on /ready: not ready while the file cannot be written', async () => {
  col = await startCollector();
  const live = await status(col.healthUrl);
  expect(live.code).toBe(200);
  expect(live.body).toMatchObject({ healthy: true, status: 'StatusOK' });
  expect((await status(col.readyUrl)).code).toBe(200);

  expect(await post(batch(0, 100))).toBe(200);
  expect(seqs()).toHaveLength(100); // answered after the write: on disk already

  // The disk is "full": no byte more in any file.
  prlimit(String(fs.statSync(col.logsFile).size));
  const failed = batch(100, 100);
  expect(await post(failed)).toBe(503); // retryable: the sender keeps the records
  const notReady = await status(col.readyUrl);
  expect(notReady.code).toBe(500);
  expect(notReady.body.healthy).toBe(false);
  expect((await status(col.healthUrl)).code).toBe(200); // alive: no restart would help
  expect(seqs()).toHaveLength(100); // nothing of the failed request in the file

  // Room again: the sender's retry is written once and the collector is ready again.
  prlimit('unlimited');
  expect(await post(failed)).toBe(200);
  expect((await status(col.readyUrl)).code).toBe(200);
  expect(seqs()).toEqual(Array.from({ length: 200 }, (_, i) => i));

  const log = fs.readFileSync(col.outputFile, 'utf8');
  expect(log).toMatch(/write failed; the sender is told and retries.*file too large/);
  expect(log).toMatch(/writes succeed again/);
});
