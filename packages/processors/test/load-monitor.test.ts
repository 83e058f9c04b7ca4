import { SeverityNumber } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { LevelController, LoadMonitor, parseLevel, levelName } from '../src';
import { metricPoints, TestMetricReader } from './helpers';

function setup(level: 'info' | 'debug' | 'error' = 'info') {
  let reading = 0;
  const ctl = new LevelController({ level });
  const exporter = new InMemoryLogRecordExporter();
  const logger = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] }).getLogger('ccr');
  const reader = new TestMetricReader();
  const monitor = new LoadMonitor({
    level: ctl,
    logger,
    meterProvider: new MeterProvider({ readers: [reader] }),
    eventLoopUtilization: () => reading,
    heapUsage: () => 0.1,
  });
  return { ctl, monitor, exporter, reader, set: (v: number) => (reading = v) };
}

describe('parseLevel', () => {
  it('maps LOG_LEVEL names and rejects unknown ones', () => {
    expect(parseLevel('trace')).toBe(SeverityNumber.TRACE);
    expect(parseLevel('WARN')).toBe(SeverityNumber.WARN);
    expect(parseLevel('warning')).toBe(SeverityNumber.WARN);
    expect(parseLevel('silent')).toBe(25);
    expect(() => parseLevel('loud')).toThrow(/unknown log level "loud": use one of trace, debug/);
    expect(levelName(SeverityNumber.ERROR2)).toBe('error');
  });

  it('silent refuses everything', () => {
    const c = new LevelController({ level: 'silent' });
    expect(c.isEnabled(SeverityNumber.FATAL4)).toBe(false);
  });
});

describe('LoadMonitor', () => {
  it('raises the floor to WARN above 0.6 and ERROR above 0.8', () => {
    const { ctl, monitor, set } = setup();
    set(0.5);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.INFO);
    set(0.65);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.WARN);
    expect(ctl.isEnabled(SeverityNumber.INFO)).toBe(false);
    set(0.85);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
  });

  it('steps down only after 5 consecutive samples at least 0.1 below the threshold, and each change is one WARN record and a metric', async () => {
    const { ctl, monitor, set, exporter, reader } = setup();
    set(0.9);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
    // 0.75 is below 0.8 but not by 0.1: stays ERROR however long.
    set(0.75);
    for (let i = 0; i < 10; i++) monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
    // 4 calm samples, then a spike: the count starts again.
    set(0.65);
    for (let i = 0; i < 4; i++) monitor.sample();
    set(0.75);
    monitor.sample();
    set(0.65);
    for (let i = 0; i < 4; i++) monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
    monitor.sample(); // 5th consecutive at 0.65 (<= 0.7): down to what the load says, WARN
    expect(ctl.floor).toBe(SeverityNumber.WARN);
    set(0.3);
    for (let i = 0; i < 4; i++) monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.WARN);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.INFO);

    const records = exporter.getFinishedLogRecords();
    expect(records.map((r) => r.body)).toEqual([
      'log level floor info -> error (load 0.90)',
      'log level floor error -> warn (load 0.65)',
      'log level floor warn -> info (load 0.30)',
    ]);
    expect(records.every((r) => r.severityNumber === SeverityNumber.WARN)).toBe(true);
    const changes = await metricPoints(reader, 'ccr.log.level.changes');
    expect(changes.reduce((a, d) => a + (d.value as number), 0)).toBe(3);
  });

  it('takes the highest of its readings, including extra sources such as queue fill', () => {
    let fill = 0;
    const ctl = new LevelController();
    const monitor = new LoadMonitor({ level: ctl, sources: [() => fill], eventLoopUtilization: () => 0.1, heapUsage: () => 0.2 });
    expect(monitor.sample()).toBe(0.2);
    fill = 0.95;
    expect(monitor.sample()).toBe(0.95);
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
  });

  it('never lowers a configured level that is already stricter, and does not announce a non-change', () => {
    const { ctl, monitor, set, exporter } = setup('error');
    set(0.9);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
    set(0.1);
    for (let i = 0; i < 5; i++) monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
    expect(exporter.getFinishedLogRecords()).toHaveLength(0);
  });

  it('samples once per interval on an unref’d timer (fake clock)', () => {
    jest.useFakeTimers();
    try {
      let calls = 0;
      const monitor = new LoadMonitor({ level: new LevelController(), eventLoopUtilization: () => (calls++, 0), heapUsage: () => 0 });
      monitor.start();
      jest.advanceTimersByTime(3500);
      expect(calls).toBe(3);
      monitor.stop();
      jest.advanceTimersByTime(3000);
      expect(calls).toBe(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('steps down from ERROR through WARN, each step after its own calm period', () => {
    const { ctl, monitor, set, exporter } = setup();
    set(0.9);
    monitor.sample();
    set(0.1);
    for (let i = 0; i < 5; i++) monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.WARN);
    for (let i = 0; i < 4; i++) monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.WARN);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.INFO);
    expect(exporter.getFinishedLogRecords().map((r) => r.body)).toEqual([
      'log level floor info -> error (load 0.90)',
      'log level floor error -> warn (load 0.10)',
      'log level floor warn -> info (load 0.10)',
    ]);
  });

  it('a source that throws or returns garbage counts as no load and never throws from the timer', () => {
    jest.useFakeTimers();
    try {
      const level = new LevelController();
      const monitor = new LoadMonitor({
        level,
        warmupMillis: 0,
        sources: [() => { throw new Error('boom'); }, () => Number.NaN, () => 0.7],
        eventLoopUtilization: () => 0.1,
        heapUsage: () => 0.1,
      });
      expect(monitor.sample()).toBe(0.7);
      monitor.start();
      expect(() => jest.advanceTimersByTime(2500)).not.toThrow();
      expect(level.floor).toBe(SeverityNumber.WARN);
      monitor.stop();
    } finally {
      jest.useRealTimers();
    }
  });

  it('stop() lowers the floor it raised', () => {
    const { ctl, monitor, set } = setup();
    set(0.9);
    monitor.sample();
    expect(ctl.floor).toBe(SeverityNumber.ERROR);
    monitor.stop();
    expect(ctl.floor).toBe(SeverityNumber.INFO);
  });

  it('rejects bad thresholds', () => {
    const level = new LevelController();
    expect(() => new LoadMonitor({ level, warnThreshold: 0.9, errorThreshold: 0.8 })).toThrow(/warnThreshold must be below errorThreshold/);
    expect(() => new LoadMonitor({ level, errorThreshold: 2 })).toThrow(/errorThreshold must be in/);
    expect(() => new LoadMonitor({ level, recoverySamples: 0 })).toThrow(/recoverySamples/);
  });
});

describe('LoadMonitor warm-up', () => {
  it('does not raise the floor during the warm-up after start(), then does', () => {
    jest.useFakeTimers();
    try {
      const level = new LevelController();
      const monitor = new LoadMonitor({ level, eventLoopUtilization: () => 1, heapUsage: () => 0, warmupMillis: 3000 });
      monitor.start();
      jest.advanceTimersByTime(2500);
      expect(monitor.load).toBe(1);
      expect(level.floor).toBe(SeverityNumber.INFO);
      jest.advanceTimersByTime(1000);
      expect(level.floor).toBe(SeverityNumber.ERROR);
      monitor.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});
