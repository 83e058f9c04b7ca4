import { SpanStatusCode } from '@opentelemetry/api';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { REDACTED, Redactor, redactionOptionsProblem } from '../src/redact';
import { RedactingLogRecordProcessor, RedactingSpanProcessor } from '../src/redacting-processors';
import { buildResource } from '../src/resource';
import { resolveConfig, splitRestartOnly } from '../src/config/resolve';
import { validateLayer } from '../src/config/file';

const r = new Redactor();

/** Every spelling of a secret key name the issue lists, and then some. */
const SECRET_KEYS = [
  'api_key', 'APIKEY', 'apiKey', 'ApiKey', 'API-KEY', 'api.key', 'anthropicApiKey', 'OPENAI_API_KEY', 'x-api-key', 'X-Api-Key', 'x-goog-api-key',
  'accessToken', 'access_token', 'refresh-token', 'token', 'TOKEN', 'x-amz-security-token',
  'client_secret', 'clientSecret', 'secret', 'SECRET',
  'password', 'Password', 'passwd', 'db_password', 'passphrase',
  'authorization', 'Authorization', 'proxy-authorization', 'http.request.header.authorization', 'req.headers.authorization',
  'cookie', 'set-cookie', 'Set-Cookie', 'credential', 'credentials', 'x-amz-credential',
  'private_key', 'privateKey', 'PRIVATE-KEY', 'session', 'session_id', 'sessionId', 'signature', 'auth', 'usage_api_key',
];
/** Names that look close but are not secrets: GenAI token counts above all. */
const NOT_SECRET_KEYS = [
  'gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens', 'gen_ai.usage.cache_read_input_tokens', 'gen_ai.usage.cache_creation_input_tokens',
  'gen_ai.request.max_tokens', 'max_tokens', 'maxTokens', 'token_count', 'tokenCount', 'tokens', 'input_token', 'prompt_tokens', 'completion_tokens',
  'total_tokens', 'tokenizer', 'keys', 'key', 'monkey', 'author', 'sessions', 'http.response.status_code', 'url.full', 'model', 'secretary_name',
];

describe('key names', () => {
  test.each(SECRET_KEYS)('%s is secret', (k) => expect(r.isSecretKey(k)).toBe(true));
  test.each(NOT_SECRET_KEYS)('%s is not', (k) => expect(r.isSecretKey(k)).toBe(false));
  test('key, sig and code are secret as URL parameters only', () => {
    for (const k of ['key', 'sig', 'code', 'X-Amz-Signature', 'api_key']) expect(r.isSecretParam(k)).toBe(true);
    expect(r.isSecretParam('alt')).toBe(false);
  });
});

/** Secret values by shape: each [text with the secret, the secret]. */
const SHAPES: Array<[string, string]> = [
  ['Authorization: Bearer abcDEF0123456789xyz', 'abcDEF0123456789xyz'],
  ['header Basic dXNlcjpwYXNzd29yZA==', 'dXNlcjpwYXNzd29yZA=='],
  ['key sk-proj-Abc123def456ghi789 used', 'sk-proj-Abc123def456ghi789'],
  ['sk-ant-api03-Zz9_x-Yy8wVv7uUt6 in text', 'sk-ant-api03-Zz9_x-Yy8wVv7uUt6'],
  ['router sk-or-v1-0123456789abcdef0123', 'sk-or-v1-0123456789abcdef0123'],
  ['google AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI', 'AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI'],
  ['xai-AbCdEfGhIjKlMnOpQrStUvWx', 'xai-AbCdEfGhIjKlMnOpQrStUvWx'],
  ['groq gsk_AbCdEfGhIjKlMnOpQrStUvWx', 'gsk_AbCdEfGhIjKlMnOpQrStUvWx'],
  ['hf_AbCdEfGhIjKlMnOpQrStUvWx here', 'hf_AbCdEfGhIjKlMnOpQrStUvWx'],
  ['ghp_AbCdEfGhIjKlMnOpQrStUvWx0123456789', 'ghp_AbCdEfGhIjKlMnOpQrStUvWx0123456789'],
  ['github_pat_11ABCDEFG0_abcdefghijklmnop', 'github_pat_11ABCDEFG0_abcdefghijklmnop'],
  ['aws AKIAIOSFODNN7EXAMPLE id', 'AKIAIOSFODNN7EXAMPLE'],
  ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fw', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fw'],
  ['-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'],
  ['fetch https://admin:hunter2pw@db.example/x', 'hunter2pw'],
  ['GET /v1/models?key=plainkey0001&alt=json', 'plainkey0001'],
  ['https://x.example/o?X-Amz-Signature=abcdef0123&X-Amz-Credential=AKID%2F2026', 'abcdef0123'],
  ['callback?access_token=tok0001#frag', 'tok0001'],
  ['password=hunter2 and more', 'hunter2'],
  ['{"api_key":"json-in-text-001","model":"m"}', 'json-in-text-001'],
  ['{\\"anthropicApiKey\\":\\"escaped-json-002\\"}', 'escaped-json-002'],
  ['x-api-key: header-as-text-003', 'header-as-text-003'],
];

describe('secret values in text', () => {
  test.each(SHAPES)('%j', (text, secret) => {
    const out = r.redactText(text);
    expect(out).not.toContain(secret);
    expect(out).toMatch(/REDACTED/);
  });
  test('text around a secret stays, a scheme stays', () => {
    expect(r.redactText('Authorization: Bearer sk-ant-api03-abcdefghijklmnop ok')).toBe('Authorization: Bearer [REDACTED] ok');
    expect(r.redactText('https://u:p@x/v1?key=k1&alt=json')).toBe('https://REDACTED:REDACTED@x/v1?key=REDACTED&alt=json');
  });
  test.each([
    'gen_ai.usage.input_tokens=5 max_tokens: 100 token_count=3',
    'Basic authentication failed for user bob',
    'Bearer token missing',
    'GET https://example.com/a?b=c&page=2 took 12:00:01',
    'task-runner sk-8 is fine',
    'the key: to success',
  ])('left alone: %j', (text) => expect(r.redactText(text)).toBe(text));
  test('idempotent', () => {
    for (const [text] of SHAPES) {
      const once = r.redactText(text);
      expect(r.redactText(once)).toBe(once);
    }
  });
});

describe('values at any depth', () => {
  const ccrConfig = {
    Providers: [{ name: 'deepseek', api_base_url: 'https://api.deepseek.com/chat?key=qk1', api_key: 'sk-ds-0123456789abcdef', models: ['deepseek-chat'] }],
    Router: { default: 'deepseek,deepseek-chat' },
    APIKEY: 'ccr-admin-key-1',
    deep: { a: { b: { c: { headers: { 'X-Api-Key': 'deep-4' }, ok: true, n: 7 } } } },
  };
  test('a CCR provider config', () => {
    const out = r.redactValue(ccrConfig) as any;
    const text = JSON.stringify(out);
    for (const s of ['qk1', 'sk-ds-0123456789abcdef', 'ccr-admin-key-1', 'deep-4']) expect(text).not.toContain(s);
    expect(out.Providers[0].models).toEqual(['deepseek-chat']);
    expect(out.Router.default).toBe('deepseek,deepseek-chat');
    expect(out.deep.a.b.c.ok).toBe(true);
    expect(out.deep.a.b.c.n).toBe(7);
    // the input is never changed
    expect(ccrConfig.APIKEY).toBe('ccr-admin-key-1');
  });
  test('a clean value is returned as is (no copy)', () => {
    const v = { a: 'x', b: [1, 2, { c: 'y' }], 'gen_ai.usage.input_tokens': 5 };
    expect(r.redactValue(v)).toBe(v);
  });
  test('deeper than the limit: replaced, never let through', () => {
    let v: any = { password: 'too-deep-5' };
    for (let i = 0; i < 20; i++) v = { x: v };
    expect(JSON.stringify(r.redactValue(v))).not.toContain('too-deep-5');
  });
  test('flags and empty values under secret names stay', () => {
    expect(r.redactEntry('auth', true)).toBe(true);
    expect(r.redactEntry('token', null as any)).toBe(null);
    expect(r.redactEntry('password', 1234)).toBe(REDACTED);
  });
  test('command-line arguments', () => {
    expect(r.redactArgs(['node', '--password', 'pw1', '--api-key=k2', 'app.js', '--port', '3', 'Bearer xY0123456789'])).toEqual([
      'node', '--password', REDACTED, `--api-key=${REDACTED}`, 'app.js', '--port', '3', `Bearer ${REDACTED}`,
    ]);
  });
});

describe('configuration', () => {
  test('extra keys and patterns apply; built-in ones stay', () => {
    const x = new Redactor({ keys: ['ccr-admin-pin'], patterns: [String.raw`\bmyco_[A-Za-z0-9]{8,}`] });
    expect(x.isSecretKey('ccrAdminPin')).toBe(true);
    expect(x.isSecretKey('CCR_ADMIN_PIN')).toBe(true);
    expect(x.redactText('id myco_abcdef012345 end')).toBe(`id ${REDACTED} end`);
    expect(x.isSecretKey('api_key')).toBe(true);
    x.configure();
    expect(x.isSecretKey('ccrAdminPin')).toBe(false);
  });
  test('a bad pattern is a clear error, at validation and in configure()', () => {
    expect(redactionOptionsProblem({ patterns: ['ok', '(unclosed'] })).toMatch(/^redaction\.patterns\[1\]: not a valid regular expression/);
    expect(redactionOptionsProblem({ patterns: ['a*'] })).toMatch(/matches the empty string/);
    expect(redactionOptionsProblem({ keys: [5] })).toMatch(/redaction\.keys\[0\]: must be a non-empty string/);
    expect(redactionOptionsProblem({ words: [] })).toMatch(/unknown setting/);
    expect(() => new Redactor({ patterns: ['[z-a]'] })).toThrow(/redaction\.patterns\[0\]/);
    expect(validateLayer({ redaction: { patterns: ['(x'] } })).toMatch(/redaction\.patterns\[0\]: not a valid regular expression/);
    expect(validateLayer({ redaction: { keys: ['pin'], patterns: ['\\bpin-\\d{4}'] } })).toBeUndefined();
  });
  test('a change of redaction in the config file applies at run time (no restart)', () => {
    const running = resolveConfig({ env: {}, warn: () => undefined });
    const next = resolveConfig({ env: {}, warn: () => undefined, file: { redaction: { keys: ['pin'], patterns: [] } } });
    const { config, restart } = splitRestartOnly(running, next);
    expect(restart).toEqual([]);
    expect(config.redaction.keys).toEqual(['pin']);
  });
  test('bad redaction options to start(): a warning, the built-in redaction only', () => {
    const warnings: string[] = [];
    const cfg = resolveConfig({ env: {}, warn: (m) => warnings.push(m), options: { redaction: { keys: [], patterns: ['(bad'] } } });
    expect(cfg.redaction).toEqual({ keys: [], patterns: [] });
    expect(warnings.join('\n')).toMatch(/redaction\.patterns\[0\]: not a valid regular expression.*built-in redaction only/);
  });
});

function logSink() {
  const seen: ReadWriteLogRecord[] = [];
  const sink: LogRecordProcessor = { onEmit: (x) => void seen.push(x), enabled: () => true, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  return { seen, provider: new LoggerProvider({ processors: [new RedactingLogRecordProcessor(), sink] }) };
}

describe('log records', () => {
  test.each(SECRET_KEYS)('attribute %s', (k) => {
    const { seen, provider } = logSink();
    provider.getLogger('t').emit({ body: 'b', attributes: { [k]: 'val-0123456789', marker: 'kept' } });
    expect(seen[0].attributes[k]).toBe(REDACTED);
    expect(seen[0].attributes.marker).toBe('kept');
  });
  test('body string, body map, exception, token counts untouched', () => {
    const { seen, provider } = logSink();
    const err = new Error('upstream said: invalid x-api-key: sk-ant-api03-errmsg0123456789');
    provider.getLogger('t').emit({ body: 'Authorization: Bearer sk-ant-api03-body0123456789 and ?key=AIzaSyBody0123456789abcdefghij', exception: err, attributes: { 'gen_ai.usage.input_tokens': 5, 'gen_ai.request.max_tokens': 64 } });
    provider.getLogger('t').emit({ body: { provider: { name: 'p', api_key: 'sk-map-0123456789ab' }, note: 'ok' } as any });
    const text = JSON.stringify(seen.map((s) => ({ body: s.body, attributes: s.attributes })));
    for (const s of ['body0123456789', 'AIzaSyBody', 'errmsg0123456789', 'sk-map-0123456789ab']) expect(text).not.toContain(s);
    expect(seen[0].attributes['gen_ai.usage.input_tokens']).toBe(5);
    expect(seen[0].attributes['gen_ai.request.max_tokens']).toBe(64);
    expect(String(seen[0].attributes['exception.stacktrace'])).toContain('upstream said');
    expect((seen[1].body as any).note).toBe('ok');
  });
});

test('a failing redaction never throws into emit() or end(), and lets only numbers and flags through', () => {
  const broken = { redactValue: () => { throw new Error('x'); }, redactEntry: () => { throw new Error('x'); }, redactText: () => { throw new Error('x'); } } as unknown as Redactor;
  const seen: ReadWriteLogRecord[] = [];
  const sink: LogRecordProcessor = { onEmit: (x) => void seen.push(x), enabled: () => true, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  const lp = new LoggerProvider({ processors: [new RedactingLogRecordProcessor(broken), sink] });
  expect(() => lp.getLogger('t').emit({ body: 'secret body', attributes: { a: 'secret', n: 1 } })).not.toThrow();
  expect(seen[0].body).toBe(REDACTED);
  expect(seen[0].attributes).toEqual({ a: REDACTED, n: 1 });
  const ended: ReadableSpan[] = [];
  const tp = new TracerProvider({ spanProcessors: [new RedactingSpanProcessor(broken), { onStart: () => undefined, onEnd: (x) => void ended.push(x), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() }] });
  const span = tp.getTracer('t').startSpan('s', { attributes: { a: 'secret', n: 2 } });
  span.addEvent('e', { b: 'secret' });
  expect(() => span.end()).not.toThrow();
  expect(ended[0].attributes).toEqual({ a: REDACTED, n: 2 });
  expect(ended[0].events[0].attributes).toEqual({ b: REDACTED });
});

describe('spans', () => {
  test('attributes set at start and later, events, exceptions, links, status; token counts untouched', () => {
    const ended: ReadableSpan[] = [];
    const sink: SpanProcessor = { onStart: () => undefined, onEnd: (s) => void ended.push(s), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
    const provider = new TracerProvider({ spanProcessors: [new RedactingSpanProcessor(), sink] });
    const tracer = provider.getTracer('t');
    const other = tracer.startSpan('other');
    const span = tracer.startSpan('GET', {
      attributes: { 'url.full': 'https://u:span-pw1@api.example/v1?key=span-k2&alt=json', anthropicApiKey: 'span-k3' },
      links: [{ context: other.spanContext(), attributes: { token: 'span-k4' } }],
    });
    span.setAttribute('http.request.header.authorization', 'Bearer span-k5-0123456789');
    span.setAttribute('gen_ai.usage.input_tokens', 5);
    span.setAttribute('gen_ai.usage.output_tokens', 4);
    span.setAttribute('url.query', 'api_key=span-k6&x=1');
    span.addEvent('phase', { accessToken: 'span-k7', 'ccr.phase.name': 'upstream' });
    span.recordException(new Error('failed with password=span-k8'));
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream 401 for key sk-ant-api03-status0123456789' });
    span.end();
    other.end();
    const s = ended.find((x) => x.name === 'GET')!;
    const text = JSON.stringify({ a: s.attributes, e: s.events, l: s.links.map((l) => l.attributes), st: s.status });
    for (const k of ['span-pw1', 'span-k2', 'span-k3', 'span-k4', 'span-k5', 'span-k6', 'span-k7', 'span-k8', 'status0123456789']) expect(text).not.toContain(k);
    expect(s.attributes['gen_ai.usage.input_tokens']).toBe(5);
    expect(s.attributes['gen_ai.usage.output_tokens']).toBe(4);
    expect(s.attributes['url.full']).toBe('https://REDACTED:REDACTED@api.example/v1?key=REDACTED&alt=json');
    expect(s.attributes['url.query']).toBe('api_key=REDACTED&x=1');
    expect(s.events[0].attributes!['ccr.phase.name']).toBe('upstream');
  });
});

describe('resource', () => {
  test('OTEL_RESOURCE_ATTRIBUTES wins over built-in values; secrets in it are redacted; telemetry.sdk.* present', () => {
    const cfg = resolveConfig({
      env: { OTEL_RESOURCE_ATTRIBUTES: 'host.name=from-env,deployment.environment=prod,db.password=res-pw1,ccr.url=https://x/?token=res-k2' },
      warn: () => undefined,
    });
    const res = buildResource(cfg);
    const a = res.attributes;
    expect(a['host.name']).toBe('from-env');
    expect(a['deployment.environment']).toBe('prod');
    expect(a['db.password']).toBe(REDACTED);
    expect(a['ccr.url']).toBe('https://x/?token=REDACTED');
    expect(a['telemetry.sdk.name']).toBe('opentelemetry');
    expect(a['telemetry.sdk.language']).toBe('nodejs');
    expect(typeof a['telemetry.sdk.version']).toBe('string');
    expect(a['telemetry.distro.name']).toBe('@ccr/otel-setup');
    expect(a['process.pid']).toBe(process.pid);
    expect(typeof a['os.type']).toBe('string');
  });
  test('OTEL_NODE_RESOURCE_DETECTORS narrows the detectors', () => {
    const none = buildResource(resolveConfig({ env: { OTEL_NODE_RESOURCE_DETECTORS: 'none' }, warn: () => undefined })).attributes;
    expect(none['process.pid']).toBeUndefined();
    expect(none['host.name']).toBeUndefined();
    expect(none['telemetry.sdk.name']).toBe('opentelemetry');
    expect(none['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
    const host = buildResource(resolveConfig({ env: { OTEL_NODE_RESOURCE_DETECTORS: 'host' }, warn: () => undefined })).attributes;
    expect(typeof host['host.name']).toBe('string');
    expect(host['process.pid']).toBeUndefined();
  });
});
