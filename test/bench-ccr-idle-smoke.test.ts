import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** No such process, or a zombie not yet reaped (the gateway's parent is gone: init reaps it when it gets to it). */
const gone = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')')).startsWith(') Z ');
  } catch {
    return true;
  }
};

// A short run of the CCR idle-memory benchmark (the real CCR 3.1.1 `serve`, bare, our preload, the stock
// register): proves it finds each variant's gateway, reads its memory, routes the requests and stops
// everything it started. The figures themselves live in bench/ and the README.
describe('bench/ccr-idle.mjs --runs 1 --settle 2 --requests 2', () => {
  it('measures the gateway and serve of every variant, answers the requests and leaves no process behind', () => {
    const root = join(__dirname, '..');
    const dir = mkdtempSync(join(tmpdir(), 'ccr-idle-smoke-'));
    try {
      const out = join(dir, 'ccr-idle.json');
      const args = [join(root, 'bench', 'ccr-idle.mjs'), '--runs', '1', '--settle', '2', '--requests', '2', '--out', out];
      const stdout = execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 150_000 });
      expect(stdout).toMatch(/### CCR 3\.1\.1 serve, memory/);
      const { results, summary } = JSON.parse(readFileSync(out, 'utf8'));
      expect(results.map((r: { variant: string }) => r.variant).sort()).toEqual(['bare', 'ccr', 'register']);
      for (const r of results) {
        expect(r.gatewayPid).toBeGreaterThan(0);
        expect(r.gatewayPid).not.toBe(r.servePid);
        for (const proc of [r.gateway, r.serve]) {
          for (const phase of [proc.idle, proc.afterRequests]) {
            expect(phase.rssMiB).toBeGreaterThan(0);
            expect(phase.anonMiB).toBeGreaterThan(0);
            expect(phase.fileMiB).toBeGreaterThan(0);
            expect(phase.anonMiB + phase.fileMiB).toBeLessThanOrEqual(phase.rssMiB + 0.01);
          }
        }
        expect(r.requests).toEqual({ sent: 2, ok: 2 });
        // a sink only for the instrumented variants
        expect(r.sink === undefined).toBe(r.variant === 'bare');
        expect(r.stopped).toEqual({ serve: true, gateway: true });
        expect(gone(r.servePid) && gone(r.gatewayPid)).toBe(true);
      }
      expect(summary).toHaveLength(12); // 2 processes x 2 phases x 3 variants
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
