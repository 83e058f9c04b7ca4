/**
 * collector/deploy without a cluster or a container engine:
 * - the Go module collector/deploy-validate decodes every Kubernetes manifest strictly into the k8s.io/api
 *   types, builds each kustomization in process (krusty), checks restricted Pod Security, resources,
 *   GOMEMLIMIT, probes and the config copies, and loads the compose file with compose-go;
 * - the real ccr-otelcol and Jaeger validate the shipped configs with the environment each manifest sets.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { binaries, COLLECTOR_CONFIG, COLLECTOR_DIR, JAEGER_CONFIG } from '../helpers/collector';

const DEPLOY = path.join(COLLECTOR_DIR, 'deploy');
const K8S = path.join(DEPLOY, 'kubernetes');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-deploy-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('go test ./... in collector/deploy-validate (strict manifests, kustomize, Pod Security, compose)', () => {
  // -mod=mod: a fresh clone downloads the module's dependencies from the Go module proxy (go.sum pins them).
  const r = spawnSync(process.env.GO || 'go', ['test', '-count=1', './...'], {
    cwd: path.join(COLLECTOR_DIR, 'deploy-validate'),
    env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    encoding: 'utf8',
    timeout: 540000,
  });
  if (r.status !== 0) throw new Error(`go test failed (exit ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toMatch(/^ok\s+\S+deploy-validate/m);
}, 600000);

/** Env of the first container of the workload `name` in a manifest file; values from the downward API become a pod IP. */
function manifestEnv(file: string, kind: string, name: string): Record<string, string> {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS());
  const w = docs.find((d) => d?.kind === kind && d.metadata.name === name);
  if (!w) throw new Error(`no ${kind} ${name} in ${file}`);
  const env: Record<string, string> = {};
  for (const e of w.spec.template.spec.containers[0].env) env[e.name] = e.value ?? '10.1.2.3';
  return env;
}

function validate(bin: string, configs: string[], env: Record<string, string>) {
  const r = spawnSync(bin, ['validate', ...configs.map((c) => `--config=${c}`)], {
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

function expectValid(bin: string, configs: string[], env: Record<string, string>) {
  const r = validate(bin, configs, env);
  if (r.status !== 0) throw new Error(`${path.basename(bin)} validate ${configs.join(' ')} failed (exit ${r.status}):\n${r.output}`);
}

/** Writable paths of a manifest moved under the test's temp dir. */
function local(env: Record<string, string>, dirs: string[]): Record<string, string> {
  const out = { ...env };
  for (const k of dirs) if (out[k]) out[k] = path.join(tmp, k, out[k]);
  return out;
}

describe('the real binaries accept the configs with the environment the manifests set', () => {
  const collectorDirs = ['CCR_OTEL_DATA_DIR', 'CCR_OTEL_STORAGE_DIR'];

  test('single tier: collector/config.yaml with the StatefulSet env (production rotation profile)', () => {
    const env = manifestEnv('base/collector.yaml', 'StatefulSet', 'ccr-otelcol');
    expect(env.LOG_ROTATION_SIZE).toBe('50');
    expectValid(binaries().collector, [COLLECTOR_CONFIG], local(env, collectorDirs));
  });

  test('gateways: collector/gateway.yaml with the same StatefulSet env', () => {
    const env = manifestEnv('base/collector.yaml', 'StatefulSet', 'ccr-otelcol');
    expectValid(binaries().collector, [path.join(COLLECTOR_DIR, 'gateway.yaml')], local(env, collectorDirs));
  });

  test('agents: collector/agent.yaml merged with the k8s resolver, with the DaemonSet env', () => {
    const env = manifestEnv('overlays/scale-out/agent.yaml', 'DaemonSet', 'ccr-otel-agent');
    const resolver = path.join(K8S, 'overlays', 'scale-out', 'config', 'resolver-k8s.yaml');
    expectValid(binaries().collector, [path.join(COLLECTOR_DIR, 'agent.yaml'), resolver], local(env, collectorDirs));
  });

  test('Jaeger: collector/jaeger.yaml with the StatefulSet env (Badger on the volume)', () => {
    const env = manifestEnv('base/jaeger.yaml', 'StatefulSet', 'jaeger');
    expectValid(binaries().jaeger, [JAEGER_CONFIG], local(env, ['JAEGER_BADGER_DIR']));
  });

  test('compose: collector/config.yaml with the compose environment', () => {
    const dc = YAML.parse(fs.readFileSync(path.join(DEPLOY, 'docker-compose.yaml'), 'utf8'));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries<string>(dc.services.collector.environment)) {
      env[k] = String(v).replace(/^\$\{[A-Z_]+:-(.*)\}$/, '$1'); // what compose substitutes by default
    }
    expect(env.LOG_ROTATION_SIZE).toBe('50');
    expectValid(binaries().collector, [COLLECTOR_CONFIG], local(env, collectorDirs));
  });
});
