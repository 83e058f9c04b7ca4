import { SeverityNumber } from '@opentelemetry/api';
import { BatchingLogRecordProcessor, LevelController } from '../src';
import { loggerFor, ScriptedExporter } from './helpers';

const base = { env: {}, retryBaseDelayMillis: 1 };

describe('below_level', () => {
  it('counts records refused in onEmit, not enabled() checks', async () => {
    const exporter = new ScriptedExporter();
    const level = new LevelController({ level: 'warn' });
    const p = new BatchingLogRecordProcessor({ ...base, exporter, level });
    const { logger } = loggerFor(p);
    for (let i = 0; i < 5; i++) expect(logger.enabled({ severityNumber: SeverityNumber.INFO })).toBe(false);
    expect(p.stats().dropped.below_level).toBe(0);
    p.onEmit({ severityNumber: SeverityNumber.INFO, body: 'refused', attributes: {} } as never);
    expect(p.stats().dropped.below_level).toBe(1);
    await p.shutdown();
  });
});
