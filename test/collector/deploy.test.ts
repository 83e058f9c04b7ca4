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

/** First container of the workload `name` in a manifest file. */
function manifestContainer(file: string, kind: string, name: string): any {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS());
  const w = docs.find((d) => d?.kind === kind && d.metadata.name === name);
  if (!w) throw new Error(`no ${kind} ${name} in ${file}`);
  return w.spec.template.spec.containers[0];
}

/** A container's env; values from the downward API become a pod IP. */
function envOf(container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) env[e.name] = e.value ?? '10.1.2.3';
  return env;
}

/** Where the files a manifest mounts at /etc/ccr-otelcol come from in the repository. */
const CONFIG_SOURCES: Record<string, string> = {
  'config.yaml': COLLECTOR_CONFIG,
  'gateway.yaml': path.join(COLLECTOR_DIR, 'gateway.yaml'),
  'agent.yaml': path.join(COLLECTOR_DIR, 'agent.yaml'),
  'resolver-k8s.yaml': path.join(K8S, 'overlays', 'scale-out', 'config', 'resolver-k8s.yaml'),
};

/** A manifest's collector arguments (--config files, feature gates) with the config paths made local. */
function localArgs(args: string[]): string[] {
  return args.map((a) => {
    const m = /^--config=\/etc\/ccr-otelcol\/(.+)$/.exec(a);
    if (!m) return a;
    if (!CONFIG_SOURCES[m[1]]) throw new Error(`unknown config file in manifest args: ${a}`);
    return `--config=${CONFIG_SOURCES[m[1]]}`;
  });
}

function validate(bin: string, args: string[], env: Record<string, string>) {
  const r = spawnSync(bin, ['validate', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

function expectValid(bin: string, args: string[], env: Record<string, string>) {
  const r = validate(bin, args, env);
  if (r.status !== 0) throw new Error(`${path.basename(bin)} validate ${args.join(' ')} failed (exit ${r.status}):\n${r.output}`);
}

/** Writable paths of a manifest moved under the test's temp dir. */
function local(env: Record<string, string>, dirs: string[]): Record<string, string> {
  const out = { ...env };
  for (const k of dirs) if (out[k]) out[k] = path.join(tmp, k, out[k]);
  return out;
}

describe('the real binaries accept the configs with the arguments and environment the manifests set', () => {
  const collectorDirs = ['CCR_OTEL_DATA_DIR', 'CCR_OTEL_STORAGE_DIR'];

  test('single tier: the StatefulSet (collector/config.yaml, production rotation profile)', () => {
    const c = manifestContainer('base/collector.yaml', 'StatefulSet', 'ccr-otelcol');
    expect(envOf(c).LOG_ROTATION_SIZE).toBe('50');
    expect(localArgs(c.args)).toContain(`--config=${COLLECTOR_CONFIG}`);
    expectValid(binaries().collector, localArgs(c.args), local(envOf(c), collectorDirs));
  });

  test('gateways: the StatefulSet patched by the scale-out overlay (collector/gateway.yaml)', () => {
    const c = manifestContainer('base/collector.yaml', 'StatefulSet', 'ccr-otelcol');
    const patch = YAML.parse(fs.readFileSync(path.join(K8S, 'overlays', 'scale-out', 'gateway-patch.yaml'), 'utf8'));
    const args = localArgs(patch.spec.template.spec.containers[0].args);
    expect(args).toContain(`--config=${CONFIG_SOURCES['gateway.yaml']}`);
    expectValid(binaries().collector, args, local(envOf(c), collectorDirs));
  });

  test('agents: the DaemonSet (collector/agent.yaml merged with the k8s resolver)', () => {
    const c = manifestContainer('overlays/scale-out/agent.yaml', 'DaemonSet', 'ccr-otel-agent');
    expect(localArgs(c.args)).toContain(`--config=${CONFIG_SOURCES['resolver-k8s.yaml']}`);
    expectValid(binaries().collector, localArgs(c.args), local(envOf(c), collectorDirs));
    // Without the resolver file, the agent has no gateway to send to and says so.
    const alone = validate(binaries().collector, localArgs(c.args).filter((a) => !a.includes('resolver-k8s')), local(envOf(c), collectorDirs));
    expect(alone.status).not.toBe(0);
    expect(alone.output).toMatch(/no endpoints specified for the static resolver/);
  });

  test('Jaeger: the StatefulSet (collector/jaeger.yaml, Badger on the volume)', () => {
    const c = manifestContainer('base/jaeger.yaml', 'StatefulSet', 'jaeger');
    expect(c.args).toEqual(['--config=/etc/jaeger/config.yaml']);
    expectValid(binaries().jaeger, [`--config=${JAEGER_CONFIG}`], local(envOf(c), ['JAEGER_DATA_DIR']));
  });

  test('compose: the collector service (collector/config.yaml)', () => {
    const dc = YAML.parse(fs.readFileSync(path.join(DEPLOY, 'docker-compose.yaml'), 'utf8'));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries<string>(dc.services.collector.environment)) {
      env[k] = String(v).replace(/^\$\{[A-Z_]+:-(.*)\}$/, '$1'); // what compose substitutes by default
    }
    expect(env.LOG_ROTATION_SIZE).toBe('50');
    expectValid(binaries().collector, localArgs(dc.services.collector.command), local(env, collectorDirs));
  });
});
