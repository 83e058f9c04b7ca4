import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// A short run of the real benchmark (OTLP exporter to the sink in a child process):
// proves it runs and that our processors account for every record. Speed targets
// are not asserted here; they live in bench/ and the README.
describe('bench --smoke', () => {
  it('runs every scenario side by side and accounts for every record', () => {
    const root = join(__dirname, '..');
    const out = execFileSync(process.execPath, [join(root, 'bench', 'run.mjs'), '--smoke'], { encoding: 'utf8', timeout: 120_000 });
    expect(out).toMatch(/### Burst/);
    expect(out).toMatch(/### Durable spill/);
    const { results, spill } = JSON.parse(readFileSync(join(root, 'bench', 'results', 'smoke.json'), 'utf8'));
    const kinds = new Set(results.map((r: { kind: string }) => r.kind));
    expect([...kinds].sort()).toEqual(['burst', 'spans', 'sustained']);
    // every scenario side by side: the no-op baseline, the SDK's processors and ours
    for (const kind of kinds) expect(results.filter((r: { kind: string }) => r.kind === kind).map((r: { processor: string }) => r.processor).sort()).toEqual(['ccr', 'noop', 'sdk']);
    for (const r of results) {
      expect(r.delivered + r.droppedTotal).toBe(r.emitted);
      if (r.processor === 'ccr') expect(Object.keys(r.dropped).every((k) => ['queue_full', 'export_failed', 'export_timeout', 'shutdown', 'below_level'].includes(k))).toBe(true);
    }
    const ccrSpans = results.find((r: { kind: string; processor: string }) => r.kind === 'spans' && r.processor === 'ccr');
    expect(ccrSpans.delivered).toBe(ccrSpans.emitted);
    // ours ran on its own OTLP/HTTP sender and its tasks were timed
    for (const r of results.filter((x: { processor: string }) => x.processor === 'ccr')) expect(r.tasks).toBeGreaterThan(0);
    // the spill scenario: what the writer process left is adopted and replayed by its successor, every record once
    const batchRecords = spill.meta.batches * spill.meta.recordsPerBatch;
    expect(spill.raw.write).toHaveLength(1);
    expect(spill.raw.write[0].records).toBe(batchRecords);
    for (const mode of ['replay', 'replayLive']) {
      expect(spill.raw[mode]).toHaveLength(1);
      expect(spill.raw[mode][0]).toMatchObject({ adoptedRecords: batchRecords, records: batchRecords, possibleDuplicates: 0 });
    }
  });
});
