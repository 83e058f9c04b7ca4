/**
 * collector/build.sh: cached runs are instant and agree with the TS helper on where the binaries are;
 * a missing or too old Go is reported clearly (checked against an empty cache, so nothing is built).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binaries, binDir, COLLECTOR_DIR } from '../helpers/collector';

const BUILD = path.join(COLLECTOR_DIR, 'build.sh');
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-build-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string | undefined> = {}) {
  const t0 = Date.now();
  const r = spawnSync('bash', [BUILD, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

test('a second run with unchanged manifests is instant and prints the cached binaries', () => {
  const { collector, jaeger } = binaries();
  const r = run(['--print-env']);
  expect(r.status).toBe(0);
  expect(r.ms).toBeLessThan(3000);
  expect(r.stdout.trim().split('\n')).toEqual([`CCR_OTELCOL_BIN=${collector}`, `JAEGER_BIN=${jaeger}`]);
  const dir = run(['--print-dir']);
  expect(dir.stdout.trim()).toBe(binDir());
  // the cache is outside the repository
  expect(path.relative(path.resolve(COLLECTOR_DIR, '..'), binDir()).startsWith('..')).toBe(true);
});

test('no Go on PATH: a clear error, nothing built', () => {
  const r = run([], { CCR_OTEL_CACHE: path.join(tmp, 'cache1'), PATH: '/usr/bin:/bin', GO: undefined });
  if (fs.existsSync('/usr/bin/go') || fs.existsSync('/bin/go')) return; // Go installed system-wide: case not reproducible here
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/Go is not installed .* needs Go >= 1\.26\.0/);
});

test('a Go that is too old: a clear error naming both versions', () => {
  const fakeGo = path.join(tmp, 'go');
  fs.writeFileSync(fakeGo, '#!/bin/sh\nif [ "$1" = env ]; then echo go1.22.5; else echo "go version go1.22.5 linux/amd64"; fi\n', { mode: 0o755 });
  const r = run([], { CCR_OTEL_CACHE: path.join(tmp, 'cache2'), GO: fakeGo });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/Go 1\.22\.5 is too old: .* need Go >= 1\.26\.0/);
  expect(fs.existsSync(path.join(tmp, 'cache2', 'bin'))).toBe(false);
});
