import { diag, DiagLogLevel } from '@opentelemetry/api';
import { BatchingLogRecordProcessor } from '../src';
import { loggerFor, ScriptedExporter } from './helpers';

const base = { env: {}, retryBaseDelayMillis: 1 };

// In a file of its own: other tests' processors would warn into the same diag logger.
describe('drop warnings', () => {
  it('warns through diag, with the count, when it drops: never silent, and rate-limited', async () => {
    const warnings: string[] = [];
    diag.setLogger({ warn: (m: string) => warnings.push(m), error() {}, info() {}, debug() {}, verbose() {} }, DiagLogLevel.WARN);
    const exporter = new ScriptedExporter(() => 'manual');
    const p = new BatchingLogRecordProcessor({ ...base, exporter, maxQueueSize: 2, maxExportBatchSize: 2, scheduledDelayMillis: 60000, dropWarningIntervalMillis: 60000 });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 10; i++) logger.emit({ body: i });
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 10; i++) logger.emit({ body: i });
    await new Promise((r) => setTimeout(r, 5));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/BatchingLogRecordProcessor dropped 8 log records \(queue_full: 8\)/);
  });

});
