/**
 * Every shipped config is accepted by the real binaries (`validate`), a broken one is refused with the
 * collector's own error, and the deploy/ manifests carry exactly the configs that are validated here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { binaries, COLLECTOR_CONFIG, COLLECTOR_DIR, JAEGER_CONFIG } from '../helpers/collector';

const K8S = path.join(COLLECTOR_DIR, 'deploy', 'kubernetes');
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

describe('deploy/', () => {
  function configMapData(file: string, key: string): string {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS());
    const cm = docs.find((d) => d?.kind === 'ConfigMap');
    expect(cm).toBeDefined();
    return cm.data[key];
  }

  test('the Kubernetes ConfigMap holds exactly collector/config.yaml, and the real binary validates it', () => {
    const embedded = configMapData('collector-configmap.yaml', 'config.yaml');
    expect(embedded).toBe(fs.readFileSync(COLLECTOR_CONFIG, 'utf8')); // regenerate with gen-configmaps.sh
    const f = path.join(tmp, 'from-configmap.yaml');
    fs.writeFileSync(f, embedded);
    // with the environment the StatefulSet sets
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, 'collector.yaml'), 'utf8')).map((d) => d.toJS());
    const sts = docs.find((d) => d.kind === 'StatefulSet');
    const env: Record<string, string> = {};
    for (const e of sts.spec.template.spec.containers[0].env) env[e.name] = e.value ?? '10.1.2.3';
    expect(env.LOG_ROTATION_SIZE).toBe('50');
    expectValid(binaries().collector, f, { ...env, CCR_OTEL_DATA_DIR: path.join(tmp, 'k8s-files'), CCR_OTEL_STORAGE_DIR: path.join(tmp, 'k8s-storage') });
  });

  test('the Jaeger ConfigMap holds exactly collector/jaeger.yaml', () => {
    expect(configMapData('jaeger-configmap.yaml', 'config.yaml')).toBe(fs.readFileSync(JAEGER_CONFIG, 'utf8'));
  });

  test('the collector StatefulSet has the guide resources, health probes and volumes', () => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, 'collector.yaml'), 'utf8')).map((d) => d.toJS());
    const sts = docs.find((d) => d.kind === 'StatefulSet');
    const c = sts.spec.template.spec.containers[0];
    expect(c.image).toBe('otel/opentelemetry-collector-contrib:0.161.0');
    expect(c.resources).toEqual({ requests: { memory: '256Mi', cpu: '250m' }, limits: { memory: '512Mi', cpu: '500m' } });
    expect(c.readinessProbe.httpGet.port).toBe('health');
    expect(c.livenessProbe.httpGet.port).toBe('health');
    expect(c.ports.find((p: any) => p.name === 'health').containerPort).toBe(13133);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(c.volumeMounts.map((m: any) => m.mountPath)).toEqual(expect.arrayContaining(['/data', '/etc/otelcol-contrib']));
    expect(docs.filter((d) => d.kind === 'Service').length).toBeGreaterThanOrEqual(1);
  });

  test('the example app loads the preload through NODE_OPTIONS with the LOG_* variables', () => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, 'example-app.yaml'), 'utf8')).map((d) => d.toJS());
    const env = Object.fromEntries(docs[0].spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env.NODE_OPTIONS).toContain('--require @ccr/otel-setup');
    for (const k of ['LOG_LEVEL', 'LOG_ROTATION_SIZE', 'LOG_MAX_FILES']) expect(env[k]).toBeDefined();
  });

  test('docker-compose uses the official images and mounts the same config files', () => {
    const dc = YAML.parse(fs.readFileSync(path.join(COLLECTOR_DIR, 'deploy', 'docker-compose.yaml'), 'utf8'));
    expect(dc.services.collector.image).toBe('otel/opentelemetry-collector-contrib:0.161.0');
    expect(dc.services.jaeger.image).toMatch(/^jaegertracing\/jaeger:2\./);
    expect(dc.services.collector.volumes).toContain('../config.yaml:/etc/otelcol-contrib/config.yaml:ro');
    expect(dc.services.jaeger.volumes).toContain('../jaeger.yaml:/etc/jaeger/config.yaml:ro');
    expect(dc.volumes).toHaveProperty('ccr-otel-data');
  });
});
