import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A short run of the gateway benchmark (bare, our preload, the stock register; JSON and SSE upstream
// answers): proves it runs and accounts for every request and span. Speed is not asserted here; it
// lives in bench/ and the README.
describe('bench:gateway --smoke', () => {
  it('answers every request in all three variants and delivers both spans of each traced request', () => {
    const root = join(__dirname, '..');
    const dir = mkdtempSync(join(tmpdir(), 'gw-smoke-'));
    try {
      const out = join(dir, 'gateway.json');
      const stdout = execFileSync(process.execPath, [join(root, 'bench', 'gateway', 'run.mjs'), '--smoke', '--out', out], { encoding: 'utf8', timeout: 120_000 });
      expect(stdout).toMatch(/### Gateway/);
      const { results } = JSON.parse(readFileSync(out, 'utf8'));
      expect(results.map((r: { variant: string }) => r.variant).sort()).toEqual(['bare', 'ccr', 'register']);
      for (const r of results) {
        expect(r.failed).toBe(0);
        expect(r.ok).toBe(r.requests);
        expect(r.requests).toBeGreaterThan(0);
        expect(r.cpuPerRequestMs).toBeGreaterThan(0);
        expect(r.idleRssMiB).toBeGreaterThan(0);
        // server span + undici client span per request; none without telemetry
        expect(r.spansDelivered).toBe(r.variant === 'bare' ? 0 : 2 * r.answered);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
