/**
 * Secrets corpus through the real ccr-otelcol: an application started with `node -r @ccr/otel-setup`
 * puts a secret in every position it can (see test/fixtures/secrets-app/app.js), plus one in
 * OTEL_RESOURCE_ATTRIBUTES, one on its command line and custom ones from the config file. Every file
 * the collector wrote must hold none of them, and must hold the non-secret markers next to them
 * (so the test fails when nothing arrives).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCollector, type RunningCollector } from '../helpers/collector';
import { childEnv, node24, OTEL_SETUP_DIR, REPO_ROOT, start, waitFor } from '../helpers/process';
import { allFiles, filesContaining, readLogs } from './lib';

const APP = path.join(REPO_ROOT, 'test', 'fixtures', 'secrets-app', 'app.js');
const tag = Math.random().toString(36).slice(2, 8);
const v = (name: string) => `Sx${name}${tag}Q7`; // distinct, greppable, no separator the scanner stops at

/** Secrets whose shape matters (they sit in free text): real-looking keys. */
const SECRETS = {
  bodyBearer: `sk-ant-api03-${v('bodyBearer')}AAAA`,
  bodyUrlKey: `AIzaSy${v('bodyUrlKey')}0123456789abc`,
  mapKey: v('mapKey'),
  mapHeader: v('mapHeader'),
  ccrUrlKey: v('ccrUrlKey'),
  ccrKey: `sk-${v('ccrKey')}0123456789`,
  ccrApikey: v('ccrApikey'),
  logExc: v('logExc'),
  logExcSk: v('logExcSk'),
  customPattern: `corpus_custom_${v('customPattern')}`,
  customKey: v('customKey'),
  pinoTop: v('pinoTop'),
  pinoUrl: v('pinoUrl'),
  pinoHdr: v('pinoHdr'),
  pinoXKey: v('pinoXKey'),
  spanAttr: v('spanAttr'),
  urlPw: v('urlPw'),
  urlTok: v('urlTok'),
  urlSig: v('urlSig'),
  urlSig2: v('urlSig2'),
  spanLate: v('spanLate'),
  eventAttr: v('eventAttr'),
  eventBearer: v('eventBearer'),
  spanExcSk: v('spanExcSk'),
  fetchKey: v('fetchKey'),
  fetchAuth: v('fetchAuth'),
  statusBearer: v('statusBearer'),
  byName: Object.fromEntries(
    [
      'api_key', 'APIKEY', 'apiKey', 'password', 'anthropicApiKey', 'accessToken', 'client_secret', 'x-api-key', 'passwd', 'authorization',
      'cookie', 'set-cookie', 'credentials', 'private_key', 'session_id', 'secret', 'token', 'OPENAI_API_KEY', 'X-Goog-Api-Key', 'refresh-token',
    ].map((k) => [k, v(`attr${k.replace(/[^A-Za-z]/g, '')}`)]),
  ),
};
const RESOURCE_PW = v('resPw');
const RESOURCE_URL_KEY = v('resUrlKey');
const ARG_PW = v('argPw');

function allSecrets(): string[] {
  const out: string[] = [RESOURCE_PW, RESOURCE_URL_KEY, ARG_PW];
  for (const [k, val] of Object.entries(SECRETS)) {
    if (k === 'byName') out.push(...Object.values(val as Record<string, string>));
    else out.push(val as string);
  }
  return out;
}

/** Non-secret text next to the secrets: each must arrive (else the test proves nothing). */
const MARKERS = [
  'corpus-body-marker',
  'corpus-map-marker',
  'attr-marker',
  'corpus-provider',
  'deepseek-chat',
  'corpus exception',
  'corpus-custom-marker',
  'corpus pino line',
  'pino-accept-marker',
  'corpus-span',
  'span-marker',
  'corpus-event',
  'event-marker',
  'corpus span exception',
  'fetch-marker',
  'corpus status',
  'corpus-env',
  'gen_ai.usage.input_tokens',
  'gen_ai.usage.output_tokens',
];

let collector: RunningCollector | undefined;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-secrets-corpus-'));

beforeAll(async () => {
  collector = await startCollector();
}, 120000);

afterAll(async () => {
  await collector?.stop().catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
}, 60000);

test('no secret from any position reaches any collector file; the markers next to them do', async () => {
  const configFile = path.join(work, 'otel.json');
  fs.writeFileSync(configFile, JSON.stringify({ redaction: { keys: ['corpus-pin'], patterns: [String.raw`\bcorpus_custom_[A-Za-z0-9]{8,}`] } }));
  const app = start(node24(), ['-r', OTEL_SETUP_DIR, APP, '--password', ARG_PW], {
    env: childEnv({
      SECRETS: JSON.stringify(SECRETS),
      CCR_OTEL_SETUP_API: path.join(OTEL_SETUP_DIR, 'bundle', 'index.js'),
      CCR_OTEL_CONFIG: configFile,
      CCR_OTEL_CAPTURE_STDOUT: 'true',
      CCR_OTEL_ADAPTIVE: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector!.otlpHttpEndpoint,
      OTEL_SERVICE_NAME: 'secrets-corpus',
      OTEL_RESOURCE_ATTRIBUTES: `deployment.environment=corpus-env,db.password=${RESOURCE_PW},ccr.upstream=https://x.example/v1?api_key=${RESOURCE_URL_KEY}`,
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
    }),
    outputFile: path.join(work, 'app.out'),
  });
  const exit = await app.exited();
  expect({ exit, output: app.output().includes('corpus done') ? 'done' : app.output() }).toEqual({ exit: { code: 0, signal: null }, output: 'done' });

  // everything the app sent has been written: wait for the last markers of each signal
  await waitFor(
    'the corpus in the log and trace files',
    () => {
      const text = allFiles(collector!.dataDir).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      return MARKERS.every((m) => text.includes(m)) ? true : undefined;
    },
    { timeoutMs: 30000, intervalMs: 250 },
  ).catch((e) => {
    const text = allFiles(collector!.dataDir).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    throw new Error(`${(e as Error).message}; missing: ${MARKERS.filter((m) => !text.includes(m)).join(', ')}\n${app.output().slice(-2000)}`);
  });

  const files = allFiles(collector!.dataDir);
  expect(files.some((f) => f.endsWith('logs.jsonl'))).toBe(true);
  expect(files.some((f) => f.endsWith('traces.jsonl'))).toBe(true);
  const leaks = filesContaining(collector!.dataDir, allSecrets()).map((h) => `${path.basename(h.file)}: ${h.needle}`);
  expect(leaks).toEqual([]);

  // the places were there, redacted (not dropped): a sample of each kind
  const logs = readLogs(collector!.dataDir).filter((r) => r.service === 'secrets-corpus');
  const attrsRec = logs.find((r) => r.attrs['corpus.marker'] === 'attr-marker')!;
  expect(attrsRec.attrs.anthropicApiKey).toBe('[REDACTED]');
  expect(attrsRec.attrs['gen_ai.usage.input_tokens']).toBe(5);
  const body = logs.find((r) => String(r.body).startsWith('corpus-body-marker'))!;
  expect(String(body.body)).toContain('Authorization: Bearer [REDACTED]');
  const pino = logs.find((r) => r.body === 'corpus pino line')!;
  expect(pino.scope).toBe('stdout');
  expect(pino.attrs.apiKey).toBe('[REDACTED]');
}, 180000);
