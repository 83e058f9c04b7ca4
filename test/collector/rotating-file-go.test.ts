/**
 * The Go tests of our rotating_file exporter (collector/components/rotatingfileexporter), run here so
 * that `npm test` (and so .ci/run) runs them: config validation, concurrent writes across rotations,
 * gzip of every backup, time rotation, crash recovery, pruning, oversize split, write errors.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { COLLECTOR_DIR } from '../helpers/collector';

test('go test ./... in collector/components/rotatingfileexporter passes', () => {
  const dir = path.join(COLLECTOR_DIR, 'components', 'rotatingfileexporter');
  const r = spawnSync(process.env.GO || 'go', ['test', '-count=1', './...'], {
    cwd: dir,
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' },
    encoding: 'utf8',
    timeout: 170000,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error) throw new Error(`could not run go test in ${dir}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`go test failed in ${dir} (exit ${r.status}):\n${output}`);
  console.log(output.trim());
  expect(output).toMatch(/^ok\s+github\.com\/ccr-otel\/ccr-otel\/collector\/components\/rotatingfileexporter/m);
});
