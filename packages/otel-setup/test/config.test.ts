import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigFileWatcher, loadConfigFile, validateLayer } from '../src/config/file';
import { fileLayerProblem, resolveConfig, splitRestartOnly } from '../src/config/resolve';
import { LevelController, LoadMonitor } from '@ccr/otel-processors';
import { profileName } from '../src/config/profiles';

const resolve = (env: NodeJS.ProcessEnv, file?: object) => {
  const warnings: string[] = [];
  const cfg = resolveConfig({ env, warn: (m) => warnings.push(m), file: file as never });
  return { cfg, warnings };
};

describe('configuration precedence: defaults < profile < file < env', () => {
  test('built-in defaults', () => {
    const { cfg, warnings } = resolve({});
    expect(warnings).toEqual([]);
    expect(cfg.level).toBe('info');
    expect(cfg.profile).toBe('default');
    expect(cfg.export).toEqual({ logs: true, traces: true, metrics: true });
    expect(cfg.exporter.protocol).toBe('http/protobuf');
    expect(cfg.exporter.endpoints.logs).toBe('http://localhost:4318/v1/logs');
    expect(cfg.shutdown.timeoutMillis).toBe(5000);
    expect(Object.isFrozen(cfg) && Object.isFrozen(cfg.batching.logs)).toBe(true);
  });

  test('profile overrides defaults, file overrides profile, env overrides file', () => {
    expect(resolve({ NODE_ENV: 'production' }).cfg.level).toBe('warn');
    expect(resolve({ NODE_ENV: 'production' }, { level: 'error' }).cfg.level).toBe('error');
    expect(resolve({ NODE_ENV: 'production', LOG_LEVEL: 'debug' }, { level: 'error' }).cfg.level).toBe('debug');
    const { cfg } = resolve(
      { NODE_ENV: 'development', OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '100' },
      { batching: { logs: { maxExportBatchSize: 50, scheduledDelayMillis: 10 } } },
    );
    expect(cfg.batching.logs.maxExportBatchSize).toBe(100);
    expect(cfg.batching.logs.scheduledDelayMillis).toBe(10);
    expect(cfg.batching.logs.maxQueueSize).toBe(65536);
  });

  test('profiles', () => {
    expect(profileName('prod')).toBe('production');
    const dev = resolve({ NODE_ENV: 'development' }).cfg;
    expect(dev.level).toBe('debug');
    expect(dev.consoleEcho).toBe(true);
    const test = resolve({ NODE_ENV: 'test' }).cfg;
    expect(test.level).toBe('silent');
    expect(test.export).toEqual({ logs: false, traces: false, metrics: false });
    expect(test.leakWatch.enabled).toBe(false);
    // asked: an explicit endpoint or OTEL_*_EXPORTER=otlp
    const asked = resolve({ NODE_ENV: 'test', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/v1/traces', OTEL_LOGS_EXPORTER: 'otlp' }).cfg;
    expect(asked.export).toEqual({ logs: true, traces: true, metrics: false });
    const prod = resolve({ NODE_ENV: 'production' }).cfg;
    expect(prod.export).toEqual({ logs: true, traces: true, metrics: true });
    expect(prod.consoleEcho).toBe(false);
  });

  test('standard variables', () => {
    const { cfg, warnings } = resolve({
      OTEL_SERVICE_NAME: 'svc',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=dev,service.version=1.2.3,team=a%20b',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:9999/custom',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer secret-token,x-tenant=1',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'winston,@opentelemetry/instrumentation-pino',
      OTEL_LOG_LEVEL: 'debug',
    });
    expect(warnings).toEqual([]);
    expect(cfg.serviceName).toBe('svc');
    expect(cfg.serviceVersion).toBe('1.2.3');
    expect(cfg.resourceAttributes.team).toBe('a b');
    expect(cfg.exporter.endpoints).toEqual({
      logs: 'http://collector:4318/v1/logs',
      traces: 'http://collector:4318/v1/traces',
      metrics: 'http://m:9999/custom',
    });
    expect(cfg.exporter.protocol).toBe('http/json');
    expect(cfg.exporter.headerNames).toEqual(['authorization', 'x-tenant']);
    expect(JSON.stringify(cfg)).not.toContain('secret-token');
    expect(cfg.sampling).toEqual({ sampler: 'parentbased_traceidratio', ratio: 0.25 });
    expect(cfg.metricExportIntervalMillis).toBe(5000);
    expect(cfg.instrumentations.disabled).toEqual(['winston', 'pino']);
    expect(cfg.diagLevel).toBe('debug');
  });
});

describe('bad environment values: a warning naming the variable and the default, never a throw', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud" .*using the default info/],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', /OTEL_EXPORTER_OTLP_PROTOCOL="grpc" .*using the default http\/protobuf/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not a url', /OTEL_EXPORTER_OTLP_ENDPOINT=.*not an http\(s\) URL; using the default http:\/\/localhost:4318/],
    ['OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', 'ftp://x', /OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=.*using the default http:\/\/localhost:4318\/v1\/logs/],
    ['OTEL_TRACES_SAMPLER', 'sometimes', /OTEL_TRACES_SAMPLER="sometimes" .*using the default parentbased_always_on/],
    ['OTEL_TRACES_SAMPLER_ARG', '2', /OTEL_TRACES_SAMPLER_ARG="2" .*using the default 1/],
    ['OTEL_BLRP_MAX_QUEUE_SIZE', '-5', /OTEL_BLRP_MAX_QUEUE_SIZE="-5" .*using the default 65536/],
    ['OTEL_BSP_SCHEDULE_DELAY', 'soon', /OTEL_BSP_SCHEDULE_DELAY="soon" .*using the default 1000/],
    ['OTEL_BLRP_EXPORT_TIMEOUT', '1.5', /OTEL_BLRP_EXPORT_TIMEOUT="1.5" .*using the default 30000/],
    ['OTEL_METRIC_EXPORT_INTERVAL', 'x', /OTEL_METRIC_EXPORT_INTERVAL="x" .*using the default 60000/],
    ['OTEL_LOG_LEVEL', 'chatty', /OTEL_LOG_LEVEL="chatty" .*using the default none/],
    ['OTEL_SDK_DISABLED', 'maybe', /OTEL_SDK_DISABLED="maybe" is not true or false; telemetry stays on/],
    ['CCR_OTEL_CAPTURE_STDOUT', 'sure', /CCR_OTEL_CAPTURE_STDOUT="sure" .*using the default false/],
    ['OTEL_NODE_ENABLED_INSTRUMENTATIONS', 'http,fs', /OTEL_NODE_ENABLED_INSTRUMENTATIONS: unknown instrumentation "fs"/],
    ['OTEL_RESOURCE_ATTRIBUTES', 'novalue', /OTEL_RESOURCE_ATTRIBUTES: entry "novalue" is not key=value/],
    ['CCR_OTEL_SHUTDOWN_TIMEOUT', 'forever', /CCR_OTEL_SHUTDOWN_TIMEOUT="forever" .*using the default 5000/],
  ];
  test.each(cases)('%s=%s', (name, value, re) => {
    const { cfg, warnings } = resolve({ [name]: value });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(re);
    // the default stays in force
    const def = resolve({}).cfg;
    if (name === 'LOG_LEVEL') expect(cfg.level).toBe(def.level);
    if (name === 'OTEL_BLRP_MAX_QUEUE_SIZE') expect(cfg.batching.logs.maxQueueSize).toBe(65536);
    if (name === 'OTEL_EXPORTER_OTLP_ENDPOINT') expect(cfg.exporter.endpoints).toEqual(def.exporter.endpoints);
  });

  test('a URL in a warning never shows its secrets', () => {
    const { warnings } = resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: 'gopher://user:pw@host/?key=sk-123' });
    expect(warnings[0]).not.toContain('sk-123');
    expect(warnings[0]).not.toContain('pw@');
  });

  test('batch size above the queue size is clamped with a warning', () => {
    const { cfg, warnings } = resolve({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '500' });
    expect(cfg.batching.spans.maxExportBatchSize).toBe(100);
    expect(warnings[0]).toMatch(/OTEL_BSP_MAX_EXPORT_BATCH_SIZE \(500\) exceeds the queue size \(100\); using 100/);
  });
});

describe('config file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-cfg-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('validation names the exact problem', () => {
    expect(validateLayer({ level: 'loud' })).toMatch(/^level: must be one of trace, debug/);
    expect(validateLayer({ adaptive: { warnThreshold: 2 } })).toBe('adaptive.warnThreshold: must be a number in (0, 1], got 2');
    expect(validateLayer({ batching: { logs: { maxQueueSize: 'big' } } })).toMatch(/^batching.logs.maxQueueSize: must be an integer >= 1/);
    expect(validateLayer({ nope: 1 })).toMatch(/^nope: unknown setting/);
    expect(validateLayer([])).toMatch(/must be a JSON object/);
    expect(validateLayer({ level: 'warn', sampling: { ratio: 0.5 }, requestTracking: { maxActive: 10 } })).toBeUndefined();
    const f = path.join(dir, 'bad.json');
    fs.writeFileSync(f, '{ "level": ');
    const r = loadConfigFile(f);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toMatch(/not valid JSON/);
  });

  test('reload applies a good file; a bad one is reported once and the last good one stays', async () => {
    const f = path.join(dir, 'otel.json');
    fs.writeFileSync(f, JSON.stringify({ level: 'warn' }));
    const warnings: string[] = [];
    const changes: unknown[] = [];
    const w = new ConfigFileWatcher({ file: f, warn: (m) => warnings.push(m), onChange: (l) => changes.push(l), pollMillis: 50 });
    expect(w.load()).toEqual({ level: 'warn' });
    w.start();
    try {
      const waitFor = async (pred: () => boolean) => {
        for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 30));
        return pred();
      };
      fs.writeFileSync(f, JSON.stringify({ level: 'debug', adaptive: { warnThreshold: 0.5 } }));
      expect(await waitFor(() => changes.length === 1)).toBe(true);
      expect(w.layer).toEqual({ level: 'debug', adaptive: { warnThreshold: 0.5 } });

      fs.writeFileSync(f, JSON.stringify({ level: 'shouty' }));
      expect(await waitFor(() => warnings.length === 1)).toBe(true);
      // the same bad content again: no second report
      fs.writeFileSync(f, JSON.stringify({ level: 'shouty' }) + ' ');
      await new Promise((r) => setTimeout(r, 300));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(f);
      expect(warnings[0]).toMatch(/level: must be one of .*keeping the last good configuration/);
      expect(w.layer).toEqual({ level: 'debug', adaptive: { warnThreshold: 0.5 } });
      expect(changes).toHaveLength(1);
      // resolved with env on top: env still wins
      const cfg = resolveConfig({ env: { LOG_LEVEL: 'error' }, warn: () => undefined, file: w.layer });
      expect(cfg.level).toBe('error');
      expect(cfg.adaptive.warnThreshold).toBe(0.5);
    } finally {
      w.close();
    }
  });

  test('an onChange that throws during a reload is reported, never thrown from the timer', async () => {
    const f = path.join(dir, 'throwing.json');
    fs.writeFileSync(f, JSON.stringify({ level: 'warn' }));
    const warnings: string[] = [];
    const w = new ConfigFileWatcher({
      file: f,
      warn: (m) => warnings.push(m),
      onChange: () => {
        throw new Error('reconfigure exploded');
      },
      pollMillis: 50,
    });
    w.load();
    w.start();
    try {
      fs.writeFileSync(f, JSON.stringify({ level: 'debug' }));
      for (let i = 0; i < 100 && warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 30));
      expect(warnings[0]).toMatch(/could not be applied: reconfigure exploded; the running values stay/);
    } finally {
      w.close();
    }
  });

  test('a missing file at start: reported once, defaults in force', () => {
    const warnings: string[] = [];
    const w = new ConfigFileWatcher({ file: path.join(dir, 'missing.json'), warn: (m) => warnings.push(m), onChange: () => undefined });
    expect(w.load()).toEqual({});
    expect(warnings[0]).toMatch(/missing.json cannot read: ENOENT; using the built-in defaults/);
  });
});

describe('the file is validated with the components\' own bounds', () => {
  // every case here passed validation before and then made LoadMonitor / RequestTracker throw
  const cases: Array<[object, RegExp]> = [
    [{ adaptive: { warnThreshold: 0 } }, /^adaptive.warnThreshold: must be a number in \(0, 1\], got 0/],
    [{ adaptive: { hysteresis: 1 } }, /^adaptive.hysteresis: must be a number in \[0, 1\), got 1/],
    [{ adaptive: { warnThreshold: 0.7, errorThreshold: 0.7 } }, /^adaptive.warnThreshold: must be below adaptive.errorThreshold \(0.7\), got 0.7/],
    [{ requestTracking: { ttlMs: 0 } }, /^requestTracking.ttlMs: must be an integer >= 1/],
    [{ batching: { logs: { maxQueueBytes: 10 } } }, /^batching.logs.maxQueueBytes: must be an integer >= 1024/],
    [{ batching: { spans: { maxQueueSize: 10, maxExportBatchSize: 20 } } }, /^batching.spans.maxExportBatchSize: must not exceed/],
  ];
  test.each(cases)('%j', (layer, re) => {
    expect(validateLayer(layer)).toMatch(re);
  });

  test('{"adaptive":{"warnThreshold":0.8}} against the default errorThreshold 0.8 is refused with the exact problem', () => {
    const problem = fileLayerProblem({ env: {}, warn: () => undefined }, { adaptive: { warnThreshold: 0.8 } });
    expect(problem).toBe('adaptive.warnThreshold (0.8) must be below adaptive.errorThreshold (0.8)');
    expect(fileLayerProblem({ env: {}, warn: () => undefined }, { adaptive: { warnThreshold: 0.7 } })).toBeUndefined();
  });

  test('the watcher keeps the last good layer when the merged configuration would be refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-cfg-'));
    try {
      const f = path.join(dir, 'c.json');
      fs.writeFileSync(f, JSON.stringify({ adaptive: { warnThreshold: 0.8 } }));
      const warnings: string[] = [];
      const w = new ConfigFileWatcher({ file: f, warn: (m) => warnings.push(m), onChange: () => undefined, check: (l) => fileLayerProblem({ env: {}, warn: () => undefined }, l) });
      expect(w.load()).toEqual({});
      expect(warnings[0]).toMatch(/adaptive.warnThreshold \(0.8\) must be below adaptive.errorThreshold \(0.8\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a resolved configuration is always accepted by the LoadMonitor', () => {
    const warnings: string[] = [];
    const cfg = resolveConfig({ env: {}, warn: (m) => warnings.push(m), options: { adaptive: { warnThreshold: 0.9 } } });
    expect(warnings[0]).toMatch(/must be below adaptive.errorThreshold.*using the defaults 0.6 and 0.8/);
    const m = new LoadMonitor({ level: new LevelController({ level: 'info' }), ...cfg.adaptive });
    m.stop();
  });
});

describe('environment: more variables', () => {
  test('CCR_OTEL_MAX_QUEUE_BYTES and CCR_OTEL_EXIT_FLUSH_TIMEOUT', () => {
    expect(resolve({ CCR_OTEL_MAX_QUEUE_BYTES: '2048' }).cfg.batching.spans.maxQueueBytes).toBe(2048);
    const bad = resolve({ CCR_OTEL_MAX_QUEUE_BYTES: 'lots' });
    expect(bad.warnings).toEqual([expect.stringMatching(/CCR_OTEL_MAX_QUEUE_BYTES="lots" is not an integer >= 1024; using the default 67108864/)]);
    expect(bad.cfg.batching.logs.maxQueueBytes).toBe(64 * 1024 * 1024);
    expect(resolve({ CCR_OTEL_EXIT_FLUSH_TIMEOUT: '250' }).cfg.shutdown).toEqual({ timeoutMillis: 5000, exitFlushMillis: 250 });
    expect(resolve({}).cfg.shutdown.exitFlushMillis).toBe(1000);
  });

  test('profiles: an unknown CCR_OTEL_PROFILE is named once; an unknown NODE_ENV silently selects none', () => {
    const p = resolve({ CCR_OTEL_PROFILE: 'prodution', NODE_ENV: 'production' });
    expect(p.warnings).toEqual([expect.stringContaining('CCR_OTEL_PROFILE="prodution"')]);
    expect(p.cfg.profile).toBe('default');
    const s = resolve({ NODE_ENV: 'staging' });
    expect(s.warnings).toEqual([]);
    expect(s.cfg.profile).toBe('default');
    expect(resolve({ CCR_OTEL_PROFILE: 'test', NODE_ENV: 'production' }).cfg.profile).toBe('test');
  });
});

describe('reload: settings that need a restart', () => {
  test('only run-time settings take the new value; the others are named and keep the running one', () => {
    const running = resolve({}).cfg;
    const next = resolve({}, { level: 'debug', export: { logs: false }, captureStdout: true, adaptive: { enabled: false, warnThreshold: 0.5 }, shutdown: { timeoutMillis: 1 }, batching: { logs: { maxQueueSize: 100 } } }).cfg;
    const { config, restart } = splitRestartOnly(running, next);
    expect(config.level).toBe('debug');
    expect(config.adaptive.warnThreshold).toBe(0.5);
    expect(config.batching.logs.maxQueueSize).toBe(100);
    expect(config.export.logs).toBe(true);
    expect(config.captureStdout).toBe(false);
    expect(config.adaptive.enabled).toBe(true);
    expect(config.shutdown.timeoutMillis).toBe(5000);
    expect(restart.sort()).toEqual(['adaptive.enabled', 'captureStdout', 'export.logs', 'shutdown.timeoutMillis']);
  });
});

describe('spill configuration', () => {
  test('off by default; the production profile turns it on under the cache directory', () => {
    expect(resolve({}).cfg.spill.dir).toBe(false);
    expect(resolve({ NODE_ENV: 'production', XDG_CACHE_HOME: '/var/cache/me' }).cfg.spill.dir).toBe('/var/cache/me/ccr-otel/spill');
    expect(resolve({ NODE_ENV: 'production', HOME: '/home/u', XDG_CACHE_HOME: '' }).cfg.spill.dir).toBe('/home/u/.cache/ccr-otel/spill');
    expect(resolve({}).cfg.spill.maxBytes).toBe(256 * 1024 * 1024);
  });

  test('CCR_OTEL_SPILL_DIR turns it on (or off), above the file; CCR_OTEL_SPILL_MAX_BYTES bounds it', () => {
    expect(resolve({ CCR_OTEL_SPILL_DIR: '/tmp/s' }).cfg.spill.dir).toBe('/tmp/s');
    expect(resolve({ NODE_ENV: 'production', CCR_OTEL_SPILL_DIR: 'off' }).cfg.spill.dir).toBe(false);
    expect(resolve({ CCR_OTEL_SPILL_DIR: '/tmp/env' }, { spill: { dir: '/tmp/file' } }).cfg.spill.dir).toBe('/tmp/env');
    expect(resolve({ NODE_ENV: 'production' }, { spill: { dir: false } }).cfg.spill.dir).toBe(false);
    expect(resolve({}, { spill: { dir: '/tmp/file', maxAgeMillis: 60000 } }).cfg.spill).toMatchObject({ dir: '/tmp/file', maxAgeMillis: 60000 });
    expect(resolve({ CCR_OTEL_SPILL_MAX_BYTES: '1048576' }).cfg.spill.maxBytes).toBe(1048576);
    const bad = resolve({ CCR_OTEL_SPILL_MAX_BYTES: '12' });
    expect(bad.cfg.spill.maxBytes).toBe(256 * 1024 * 1024);
    expect(bad.warnings.join()).toMatch(/CCR_OTEL_SPILL_MAX_BYTES="12" is not an integer >= 1024/);
  });

  test('file keys spill.* are validated', () => {
    expect(validateLayer({ spill: { dir: 3 } })).toMatch(/^spill.dir: must be a directory path or false/);
    expect(validateLayer({ spill: { maxBytes: 10 } })).toMatch(/^spill.maxBytes: must be an integer >= 1024/);
    expect(validateLayer({ spill: { flushIntervalMillis: 2 ** 31 } })).toMatch(/^spill.flushIntervalMillis: must be <= 2147483647/);
    expect(validateLayer({ spill: { dir: '/x', maxBytes: 4096, maxAgeMillis: 1, flushIntervalMillis: 100, segmentBytes: 4096 } })).toBeUndefined();
  });
});
