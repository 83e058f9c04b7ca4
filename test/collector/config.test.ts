/**
 * Every shipped config is accepted by the real binaries (`validate`), a broken one is refused with the
 * collector's own error. The deploy/ manifests are checked by deploy.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { binaries, COLLECTOR_CONFIG, JAEGER_CONFIG } from '../helpers/collector';

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-validate-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function validate(bin: string, config: string, env: Record<string, string> = {}) {
  const r = spawnSync(bin, ['validate', `--config=${config}`], {
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

  test('collector/config.yaml with the production profile, zstd and a non-loopback host', () => {
    expectValid(binaries().collector, COLLECTOR_CONFIG, {
      CCR_OTEL_HOST: '0.0.0.0',
      CCR_OTEL_DATA_DIR: path.join(tmp, 'files'),
      CCR_OTEL_STORAGE_DIR: path.join(tmp, 'storage'),
      LOG_ROTATION_SIZE: '50',
      LOG_MAX_FILES: '10',
      LOG_MAX_DAYS: '7',
      LOG_COMPRESSION: 'zstd',
      JAEGER_OTLP_ENDPOINT: 'jaeger:4317',
    });
  });

  test('collector/jaeger.yaml', () => {
    expectValid(binaries().jaeger, JAEGER_CONFIG);
  });

  test('a deliberately broken config fails, with the collector error shown', () => {
    const broken = path.join(tmp, 'broken.yaml');
    const cfg = YAML.parse(fs.readFileSync(COLLECTOR_CONFIG, 'utf8'));
    cfg.service.pipelines.logs.processors = ['memory_limiter', 'batch', 'no_such_processor'];
    fs.writeFileSync(broken, YAML.stringify(cfg));
    const r = validate(binaries().collector, broken);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/no_such_processor/);
    // the operator sees why:
    console.log(`expected failure of ccr-otelcol validate on a broken config:\n${r.output.trim()}`);
  });

  test('a non-integer rotation size is refused', () => {
    const r = validate(binaries().collector, COLLECTOR_CONFIG, { LOG_ROTATION_SIZE: '50M' });
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/max_megabytes/);
  });
});

describe('config shape', () => {
  const cfg = YAML.parse(fs.readFileSync(COLLECTOR_CONFIG, 'utf8'));

  test('memory_limiter runs first, then batch, in every pipeline', () => {
    for (const [name, p] of Object.entries<any>(cfg.service.pipelines)) {
      expect([name, p.processors]).toEqual([name, ['memory_limiter', 'batch']]);
    }
  });

  test('traces go to the file and to Jaeger through a file_storage-backed queue', () => {
    expect(cfg.service.pipelines.traces.exporters).toEqual(['file/traces', 'otlp_grpc/jaeger']);
    expect(cfg.exporters['otlp_grpc/jaeger'].sending_queue).toMatchObject({ enabled: true, storage: 'file_storage' });
    expect(cfg.service.extensions).toEqual(expect.arrayContaining(['health_check', 'file_storage']));
  });

  test('listeners default to loopback and every file exporter rotates from the LOG_* variables', () => {
    const raw = fs.readFileSync(COLLECTOR_CONFIG, 'utf8');
    expect(cfg.receivers.otlp.protocols.grpc.endpoint).toBe('${env:CCR_OTEL_HOST:-127.0.0.1}:${env:CCR_OTEL_GRPC_PORT:-4317}');
    expect(cfg.receivers.otlp.protocols.http.endpoint).toBe('${env:CCR_OTEL_HOST:-127.0.0.1}:${env:CCR_OTEL_HTTP_PORT:-4318}');
    for (const s of ['logs', 'traces', 'metrics']) {
      const e = cfg.exporters[`file/${s}`];
      expect(e.rotation).toEqual({
        max_megabytes: '${env:LOG_ROTATION_SIZE:-10}',
        max_backups: '${env:LOG_MAX_FILES:-10}',
        max_days: '${env:LOG_MAX_DAYS:-7}',
      });
      expect(e.path).toBe(`\${env:CCR_OTEL_DATA_DIR:-./ccr-otel-data}/${s}.jsonl`);
      expect(e.format).toBe('json');
    }
    // no secrets, no hard-coded credentials
    expect(raw).not.toMatch(/password|api[_-]?key|token:|authorization/i);
  });

  test('Jaeger listens on loopback ports that do not collide with the collector defaults', () => {
    const j = YAML.parse(fs.readFileSync(JAEGER_CONFIG, 'utf8'));
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
    for (const p of ports) expect([4317, 4318, 13133, 8888]).not.toContain(p);
    expect(new Set(ports).size).toBe(ports.length);
    expect(j.extensions.jaeger_storage.backends.memstore.memory).toBeDefined();
  });
});
