import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Runs the built package in a child process: a pending export, a delay timer, a retry
// and the tracker's sweep must not keep the process alive.
describe('timers', () => {
  it('a process with queued records, a hung export, a load monitor and a tracker exits at once', () => {
    const dist = join(__dirname, '..', 'dist');
    const script = `
      const { BatchingLogRecordProcessor, BatchingSpanProcessor, LevelController, LoadMonitor, RequestTracker } = require(${JSON.stringify(dist)});
      const { LoggerProvider } = require('@opentelemetry/sdk-logs');
      const { TracerProvider } = require('@opentelemetry/sdk-trace');
      const hang = { export() {}, shutdown: async () => {} };
      const p = new BatchingLogRecordProcessor({ exporter: hang, env: {} });
      const logger = new LoggerProvider({ processors: [p] }).getLogger('x');
      for (let i = 0; i < 600; i++) logger.emit({ body: 'x' });
      const sp = new BatchingSpanProcessor({ exporter: hang, env: {} });
      const tracer = new TracerProvider({ spanProcessors: [sp] }).getTracer('x');
      new RequestTracker({ tracer }).trackRequest('r');
      new LoadMonitor({ level: new LevelController() }).start();
      setTimeout(() => console.log('queued', p.stats().queued + p.stats().inFlight), 50);
    `;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..'), encoding: 'utf8', timeout: 20000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('queued 600');
    expect(r.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(10000); // the export timeout (30 s) did not hold it
  });
});
