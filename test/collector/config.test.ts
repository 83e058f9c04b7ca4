/**
 * Every shipped config is accepted by the real binaries (`validate`), and a broken one is refused with
 * the collector's own error. (The deploy/ manifests are checked by their own tests.)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { binaries, COLLECTOR_CONFIG, COLLECTOR_DIR, COLLECTOR_FEATURE_GATES, JAEGER_CONFIG } from '../helpers/collector';

const JAEGER_ES_CONFIG = path.join(COLLECTOR_DIR, 'jaeger-elasticsearch.yaml');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-validate-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function validate(bin: string, config: string, env: Record<string, string> = {}, flags = bin === binaries().collector ? [COLLECTOR_FEATURE_GATES] : []) {
  const r = spawnSync(bin, ['validate', `--config=${config}`, ...flags], {
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

function expectValid(bin: string, config: string, env: Record<string, string> = {}) {
  const r = validate(bin, config, env);
  if (r.status !== 0) throw new Error(`${path.basename(bin)} validate ${config} failed (exit ${r.status}):\n${r.output}`);
}

describe('shipped configs validate with the real binaries', () => {
  test('collector/config.yaml with its defaults', () => {
    expectValid(binaries().collector, COLLECTOR_CONFIG);
  });

  test('collector/config.yaml with the production profile, no compression, hourly rotation, fsync and a non-loopback host', () => {
    expectValid(binaries().collector, COLLECTOR_CONFIG, {
      CCR_OTEL_HOST: '0.0.0.0',
      CCR_OTEL_DATA_DIR: path.join(tmp, 'files'),
      CCR_OTEL_STORAGE_DIR: path.join(tmp, 'storage'),
      LOG_ROTATION_SIZE: '50',
      LOG_ROTATION_INTERVAL: '1h',
      LOG_MAX_FILES: '10',
      LOG_MAX_DAYS: '7',
      LOG_COMPRESSION: 'none',
      LOG_FSYNC: 'true',
      CCR_OTEL_JAEGER_QUEUE_BYTES: String(256 * 1024 * 1024),
      JAEGER_OTLP_ENDPOINT: 'jaeger:4317',
    });
  });

  test('collector/jaeger.yaml (Badger) and collector/jaeger-elasticsearch.yaml', () => {
    expectValid(binaries().jaeger, JAEGER_CONFIG, { JAEGER_DATA_DIR: path.join(tmp, 'badger') });
    expectValid(binaries().jaeger, JAEGER_ES_CONFIG, { JAEGER_ES_URL: 'http://elasticsearch:9200' });
  });

  test('without the feature gate the health_check settings are refused, and the error says which flag', () => {
    const r = validate(binaries().collector, COLLECTOR_CONFIG, {}, []);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('extension.healthcheck.useComponentStatus');
  });

  test('a deliberately broken config fails, with the collector error shown', () => {
    const broken = path.join(tmp, 'broken.yaml');
    const cfg = YAML.parse(fs.readFileSync(COLLECTOR_CONFIG, 'utf8'));
    cfg.service.pipelines.logs.processors = ['memory_limiter', 'no_such_processor'];
    fs.writeFileSync(broken, YAML.stringify(cfg));
    const r = validate(binaries().collector, broken);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/no_such_processor/);
    // the operator sees why:
    console.log(`expected failure of ccr-otelcol validate on a broken config:\n${r.output.trim()}`);
  });

  test.each([
    ['a non-integer rotation size', { LOG_ROTATION_SIZE: '50M' }, /max_megabytes/],
    ['a rotation size of 0', { LOG_ROTATION_SIZE: '0' }, /max_megabytes must be at least 1/],
    ['zstd (the contrib exporter\'s per-message compression)', { LOG_COMPRESSION: 'zstd' }, /compression must be "gzip" or "none", got "zstd"/],
    ['a rotation interval that does not divide a day', { LOG_ROTATION_INTERVAL: '7h' }, /rotation_interval/],
  ])('%s is refused with a clear error', (_what, env, message) => {
    const r = validate(binaries().collector, COLLECTOR_CONFIG, env as Record<string, string>);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(message);
  });
});

describe('config shape', () => {
  const cfg = YAML.parse(fs.readFileSync(COLLECTOR_CONFIG, 'utf8'));

  test('memory_limiter is the only processor: no batch processor answers before the write', () => {
    for (const [name, p] of Object.entries<any>(cfg.service.pipelines)) {
      expect([name, p.processors]).toEqual([name, ['memory_limiter']]);
    }
  });

  test('traces go to the rotating file and to Jaeger through a file_storage queue sized in bytes', () => {
    expect(cfg.service.pipelines.traces.exporters).toEqual(['rotating_file/traces', 'otlp_grpc/jaeger']);
    expect(cfg.exporters['otlp_grpc/jaeger'].sending_queue).toMatchObject({ enabled: true, storage: 'file_storage', sizer: 'bytes' });
    expect(cfg.service.extensions).toEqual(['health_check/live', 'health_check/ready', 'file_storage']);
    expect(cfg.extensions['health_check/live'].http.status.path).toBe('/health');
    expect(cfg.extensions['health_check/ready'].http.status.path).toBe('/ready');
    expect(cfg.extensions['health_check/ready'].component_health).toMatchObject({ include_recoverable_errors: true, include_permanent_errors: true });
  });

  test('listeners default to loopback and every file exporter rotates from the LOG_* variables', () => {
    const raw = fs.readFileSync(COLLECTOR_CONFIG, 'utf8');
    expect(cfg.receivers.otlp.protocols.grpc.endpoint).toBe('${env:CCR_OTEL_HOST:-127.0.0.1}:${env:CCR_OTEL_GRPC_PORT:-4317}');
    expect(cfg.receivers.otlp.protocols.http.endpoint).toBe('${env:CCR_OTEL_HOST:-127.0.0.1}:${env:CCR_OTEL_HTTP_PORT:-4318}');
    for (const s of ['logs', 'traces', 'metrics']) {
      expect(cfg.service.pipelines[s].exporters[0]).toBe(`rotating_file/${s}`);
      expect(cfg.exporters[`rotating_file/${s}`]).toEqual({
        path: `\${env:CCR_OTEL_DATA_DIR:-./ccr-otel-data}/${s}.jsonl`,
        max_megabytes: '${env:LOG_ROTATION_SIZE:-10}',
        rotation_interval: '${env:LOG_ROTATION_INTERVAL:-24h}',
        compression: '${env:LOG_COMPRESSION:-gzip}',
        max_files: '${env:LOG_MAX_FILES:-10}',
        max_days: '${env:LOG_MAX_DAYS:-7}',
        fsync: '${env:LOG_FSYNC:-false}',
      });
    }
    // no secrets, no hard-coded credentials
    expect(raw).not.toMatch(/password|api[_-]?key|token:|authorization/i);
  });

  test.each([JAEGER_CONFIG, JAEGER_ES_CONFIG])('%s listens on loopback ports that do not collide with the collector defaults', (file) => {
    const j = YAML.parse(fs.readFileSync(file, 'utf8'));
    const endpoints = [
      j.receivers.otlp.protocols.grpc.endpoint,
      j.receivers.otlp.protocols.http.endpoint,
      j.extensions.jaeger_query.http.endpoint,
      j.extensions.jaeger_query.grpc.endpoint,
      j.extensions.healthcheckv2.http.endpoint,
    ];
    const ports = endpoints.map((e: string) => {
      expect(e.startsWith('${env:JAEGER_HOST:-127.0.0.1}:')).toBe(true);
      return Number(/:-(\d+)\}$/.exec(e)![1]);
    });
    for (const p of ports) expect([4317, 4318, 13133, 13135, 8888]).not.toContain(p);
    expect(new Set(ports).size).toBe(ports.length);
    expect(j.service.pipelines.traces.processors).toBeUndefined(); // answered after the store has it
  });

  test('Jaeger keeps traces on disk in Badger with a TTL, and the Elasticsearch variant in its indices', () => {
    const j = YAML.parse(fs.readFileSync(JAEGER_CONFIG, 'utf8'));
    const store = j.extensions.jaeger_storage.backends[j.extensions.jaeger_query.storage.traces];
    expect(j.exporters.jaeger_storage_exporter.trace_storage).toBe(j.extensions.jaeger_query.storage.traces);
    expect(store.badger).toEqual({
      ephemeral: false,
      directories: { keys: '${env:JAEGER_DATA_DIR:-./ccr-otel-data/jaeger}/keys', values: '${env:JAEGER_DATA_DIR:-./ccr-otel-data/jaeger}/values' },
      ttl: { spans: '${env:JAEGER_TTL:-72h}' },
    });
    const es = YAML.parse(fs.readFileSync(JAEGER_ES_CONFIG, 'utf8'));
    const esStore = es.extensions.jaeger_storage.backends[es.extensions.jaeger_query.storage.traces];
    expect(es.exporters.jaeger_storage_exporter.trace_storage).toBe(es.extensions.jaeger_query.storage.traces);
    expect(esStore.elasticsearch.server_urls).toEqual(['${env:JAEGER_ES_URL:-http://127.0.0.1:9200}']);
  });
});
