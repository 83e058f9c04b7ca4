import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DurableSpill } from '@ccr/otel-processors';
import { childEnv, runChild, startSink } from './helpers';
import type { Sink } from './helpers';

const fixture = (n: string) => path.join(__dirname, 'fixtures', n);
jest.setTimeout(30000);

/** A loopback port with nothing listening on it (the collector is down). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}


describe('shutdown in a child process', () => {
  let sink: Sink;
  beforeEach(async () => {
    sink = await startSink();
  });
  afterEach(async () => {
    await sink.close();
  });

  test('SIGTERM with an app listener that does nothing: records flushed, the process keeps running as it would without us', async () => {
    let sent = false;
    let flushedWhileRunning = false;
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('sigterm-listener.js')], childEnv(sink, { OTEL_BLRP_SCHEDULE_DELAY: '60000', CCR_OTEL_SHUTDOWN_TIMEOUT: '1500' }), {
      onStdout: (out, kill) => {
        if (out.includes('ready') && !sent) {
          sent = true;
          kill('SIGTERM');
          // well past the deadline: still running, records already delivered
          setTimeout(() => {
            const bodies = sink.logs().map((l) => l.body?.stringValue);
            flushedWhileRunning = bodies.includes('record 19');
            kill('SIGKILL');
          }, 3500);
        }
      },
      timeoutMs: 15000,
    });
    expect(r.signal).toBe('SIGKILL');
    expect(flushedWhileRunning).toBe(true);
    const bodies = sink.logs().map((l) => l.body?.stringValue);
    for (let i = 0; i < 20; i++) expect(bodies).toContain(`record ${i}`);
  });

  test("SIGTERM with the app's own handler that exits 0: the app's exit code stays, records flushed", async () => {
    let sent = false;
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('sigterm-app-exit.js')], childEnv(sink, { OTEL_BLRP_SCHEDULE_DELAY: '60000' }), {
      onStdout: (out, kill) => {
        if (out.includes('ready') && !sent) ((sent = true), kill('SIGTERM'));
      },
    });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    const bodies = sink.logs().map((l) => l.body?.stringValue);
    for (let i = 0; i < 20; i++) expect(bodies).toContain(`record ${i}`);
  });

  test('SIGTERM with signal-exit installed: it gets its turn right after the flush, not at the deadline', async () => {
    let sent = false;
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('sigterm-signal-exit.js')], childEnv(sink, { OTEL_BLRP_SCHEDULE_DELAY: '60000', CCR_OTEL_SHUTDOWN_TIMEOUT: '8000' }), {
      onStdout: (out, kill) => {
        if (out.includes('ready') && !sent) ((sent = true), kill('SIGTERM'));
      },
    });
    expect(r.signal === 'SIGTERM' || r.code === 143).toBe(true);
    expect(r.stdout).toContain('cleanup ran');
    expect(r.ms).toBeLessThan(5000);
    expect(sink.logs().some((l) => l.body?.stringValue === 'before the signal')).toBe(true);
  });

  test('a second SIGTERM during a slow flush ends the process at once with 143', async () => {
    const port = await closedPort();
    let sent = false;
    const env = childEnv(sink, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, CCR_OTEL_SHUTDOWN_TIMEOUT: '20000' });
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('sigterm.js')], env, {
      onStdout: (out, kill) => {
        if (out.includes('ready') && !sent) {
          sent = true;
          kill('SIGTERM');
          setTimeout(() => kill('SIGTERM'), 500);
        }
      },
      timeoutMs: 25000,
    });
    expect(r.code).toBe(143);
    expect(r.ms).toBeLessThan(4000);
  });

  test('SIGTERM while the collector never answers: at the deadline the exports in flight go to the spill, a successor finds them', async () => {
    const sockets = new Set<net.Socket>();
    const blackHole = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spill-sigterm-'));
    try {
      const port = (blackHole.address() as net.AddressInfo).port;
      const env = childEnv(sink, {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_SERVICE_NAME: 'spill-sigterm',
        CCR_OTEL_SPILL_DIR: dir,
        CCR_OTEL_SHUTDOWN_TIMEOUT: '500',
      });
      let sent = false;
      const r = await runChild(['-r', '@ccr/otel-setup', fixture('sigterm.js')], env, {
        onStdout: (out, kill) => {
          if (out.includes('ready') && !sent) {
            sent = true;
            // the batch is in flight to the black hole by then
            setTimeout(() => kill('SIGTERM'), 300);
          }
        },
      });
      expect(r.signal ?? r.code).toMatch(/SIGTERM|143/);
      // a successor of the service adopts the dead process's directory
      const spill = new DurableSpill({ dir, serviceName: 'spill-sigterm' });
      await spill.open();
      let records = 0;
      const replay = await spill.replay(async (b) => {
        if (b.signal === 'logs') records += b.records;
        return 'ok';
      });
      await spill.close();
      expect(replay.stopped).toBe('empty');
      expect(records).toBe(50);
    } finally {
      for (const s of sockets) s.destroy();
      blackHole.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an app that awaits shutdown() with nothing else in its event loop: the code after the await runs, with the final counts', async () => {
    const r = await runChild([fixture('await-shutdown.js')], childEnv(sink));
    expect(r.code).toBe(0);
    const m = /after shutdown (.*)/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(JSON.parse(m![1])).toMatchObject({ exported: 1, queued: 0, inFlight: 0 });
    expect(sink.logs().map((l) => l.body.stringValue)).toEqual(['before shutdown']);
  });

  test('a short-lived process exits promptly when the collector is down', async () => {
    const port = await closedPort();
    const env = childEnv(sink, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.ms).toBeLessThan(2000);
  });

  test('a short-lived process with the spill on exits promptly when the collector is down; its record and span wait on disk', async () => {
    const port = await closedPort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spill-short-'));
    try {
      const env = childEnv(sink, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'spill-short', CCR_OTEL_SPILL_DIR: dir });
      const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('done\n');
      expect(r.ms).toBeLessThan(2000);
      const spill = new DurableSpill({ dir, serviceName: 'spill-short' });
      await spill.open();
      const records: Record<string, number> = {};
      await spill.replay(async (b) => {
        records[b.signal] = (records[b.signal] ?? 0) + b.records;
        return 'ok';
      });
      await spill.close();
      // the log record, and the span (the self-log of the preload may add records: at least ours)
      expect(records.logs).toBeGreaterThanOrEqual(1);
      expect(records.traces).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("beforeExit: the flush deadline never cuts short the app's own async cleanup", async () => {
    const port = await closedPort();
    const env = childEnv(sink, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, CCR_OTEL_EXIT_FLUSH_TIMEOUT: '200' });
    const r = await runChild(['-r', '@ccr/otel-setup', fixture('before-exit-cleanup.js')], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ready\ncleanup done\n');
    // not held by repeated flush deadlines (the SDK metric exporter's own retry timer may still hold it a few seconds)
    expect(r.ms).toBeLessThan(15000);
  });
});

describe('start never crashes the host and undoes a half-built pipeline', () => {
  test('bad OTEL_BLRP_* / CCR_OTEL_MAX_QUEUE_BYTES: warnings naming them, telemetry still runs', async () => {
    const sink = await startSink();
    try {
      const r = await runChild(
        ['-r', '@ccr/otel-setup', fixture('short.js')],
        childEnv(sink, { OTEL_BLRP_MAX_QUEUE_SIZE: 'many', OTEL_BSP_EXPORT_TIMEOUT: '1.5', CCR_OTEL_MAX_QUEUE_BYTES: 'lots' }),
      );
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('OTEL_BLRP_MAX_QUEUE_SIZE="many"');
      expect(r.stderr).toContain('OTEL_BSP_EXPORT_TIMEOUT="1.5"');
      expect(r.stderr).toContain('CCR_OTEL_MAX_QUEUE_BYTES="lots"');
      expect(r.stderr).not.toContain('could not start');
      expect(sink.logs().some((l) => l.body?.stringValue === 'short app says hello')).toBe(true);
    } finally {
      await sink.close();
    }
  });

  test('a config file the LoadMonitor would refuse is reported, telemetry runs on the rest', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, '{"adaptive":{"warnThreshold":0.8}}');
    const sink = await startSink();
    try {
      const r = await runChild(['-r', '@ccr/otel-setup', fixture('short.js')], childEnv(sink, { CCR_OTEL_CONFIG: file }));
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('adaptive.warnThreshold (0.8) must be below adaptive.errorThreshold (0.8)');
      expect(r.stderr).not.toContain('could not start');
      expect(sink.logs().some((l) => l.body?.stringValue === 'short app says hello')).toBe(true);
    } finally {
      await sink.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('worker threads inherit the preload but start no telemetry of their own', async () => {
    const sink = await startSink();
    try {
      const r = await runChild(['-r', '@ccr/otel-setup', fixture('worker-app.js')], childEnv(sink));
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout.trim())).toEqual({ main: true, worker: false });
    } finally {
      await sink.close();
    }
  });

  test('a failure in the middle of start: globals, context manager and hooks undone, the config says disabled', async () => {
    const sink = await startSink();
    try {
      const r = await runChild([fixture('fail-start.js')], childEnv(sink));
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('telemetry could not start: monitor failed on purpose');
      const out = JSON.parse(r.stdout.trim());
      expect(out).toEqual({
        disabled: true,
        same: true,
        export: { logs: false, traces: false, metrics: false },
        tracer: 'NoopTracerProvider',
        logger: 'NoopLoggerProvider',
        ctxMgrActive: false,
        sigterm: 0,
        beforeExit: 0,
      });
    } finally {
      await sink.close();
    }
  });
});
