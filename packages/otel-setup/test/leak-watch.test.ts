import { SeverityNumber } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { LeakWatch } from '../src/leak-watch';

function setup(heap: () => number, windowMillis = 24 * 3600 * 1000) {
  const exporter = new InMemoryLogRecordExporter();
  const logger = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] }).getLogger('t');
  let t = 0;
  const watch = new LeakWatch({ logger, heapUsed: heap, now: () => (t += 30_000), windowMillis });
  return { watch, exporter };
}

describe('LeakWatch', () => {
  it('stays quiet while the heap is flat or grows by 10% or less', () => {
    let i = 0;
    const { watch, exporter } = setup(() => 100e6 * (1 + 0.005 * i++)); // ~+5% per 10 samples
    for (let k = 0; k < 40; k++) watch.sample();
    expect(exporter.getFinishedLogRecords()).toHaveLength(0);
    expect(watch.lastGrowth).toBeGreaterThan(0);
  });

  it('emits one WARN record when the last ten samples are more than 10% above the ten before', () => {
    let i = 0;
    const { watch, exporter } = setup(() => (i++ < 10 ? 100e6 : 120e6));
    for (let k = 0; k < 20; k++) watch.sample();
    const records = exporter.getFinishedLogRecords();
    expect(records).toHaveLength(1);
    expect(records[0].severityNumber).toBe(SeverityNumber.WARN);
    expect(String(records[0].body)).toMatch(/possible memory leak: heap grew 20\.0%/);
    // still growing: no second warning until ten new samples have been taken
    for (let k = 0; k < 5; k++) watch.sample();
    expect(exporter.getFinishedLogRecords()).toHaveLength(1);
  });

  it('keeps warning about a steady leak after the window is full', () => {
    let heap = 100e6;
    const { watch } = setup(() => (heap *= 1.03), 30 * 30_000); // window of 30 samples
    for (let k = 0; k < 200; k++) watch.sample();
    expect(watch.warnings).toBeGreaterThan(5);
  });

  it('the timer is unref’d and stops', () => {
    jest.useFakeTimers();
    try {
      let calls = 0;
      const logger = new LoggerProvider().getLogger('t');
      const watch = new LeakWatch({ logger, intervalMillis: 1000, heapUsed: () => (calls++, 1) });
      watch.start();
      jest.advanceTimersByTime(3000);
      watch.stop();
      jest.advanceTimersByTime(3000);
      expect(calls).toBe(3);
    } finally {
      jest.useRealTimers();
    }
  });
});
