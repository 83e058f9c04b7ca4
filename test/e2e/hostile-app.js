/**
 * Child process for hostile.test.ts, started with the preload (node -r packages/otel-setup): throws
 * hostile input at every way in (the logs API, the preload's logger, the trace API, stdout lines,
 * pino): circular objects, BigInt, Symbol keys, throwing getters and Proxies, 10 MB strings, invalid
 * UTF-8 buffers, 100k attributes. Every call is made inside a try: a throw that reaches this script is
 * reported in `errors`. Records carry the attributes `run` and `case`. Then it flushes and prints
 * `{"done":true,"records":N,"unreadable":U,"redacted":R,"errors":[...],"stats":...}` (N: records it
 * emitted; U: of them, those the SDK cannot build; R: those whose body the redactor cannot read) and
 * ends by itself.
 */
'use strict';
const fs = require('node:fs');
const { logs, trace, SeverityNumber, SpanStatusCode } = require('@opentelemetry/api');
const otel = require(process.env.OTEL_SETUP_DIR);
const pino = require(require.resolve('pino', { paths: [process.env.OTEL_SETUP_DIR] }));

const run = process.env.RUN;
const capture = process.env.CCR_OTEL_CAPTURE_STDOUT === 'true';
const errors = [];
let records = 0;
let unreadable = 0;
let redacted = 0;
/** A number: the redacting processor keeps numbers of a record whose body it cannot read. */
const runId = Number(process.env.RUN_ID);
function attempt(name, fn) {
  try {
    fn();
  } catch (e) {
    errors.push(`${name}: ${e && e.message}`);
  }
}

const MB10 = 'x'.repeat(10 * 1024 * 1024);
/** One ASCII character, then 4-byte characters (surrogate pairs in UTF-16) past 1 MiB: the cut falls inside one. */
const EMOJI = 'a' + '😀'.repeat(300_000);
const BAD_UTF8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xed, 0xa0, 0x80]);
const circular = () => {
  const o = { name: 'loop' };
  o.self = o;
  o.list = [o, 'end'];
  return o;
};
/** Attributes `run` and `case`, plus one whose getter throws. */
const getterAttrs = (kase) => {
  const o = { run, case: kase };
  Object.defineProperty(o, 'boom', { enumerable: true, get: () => { throw new Error('getter'); } });
  return o;
};
const poisoned = () =>
  new Proxy([], {
    get() { throw new Error('get trap'); },
    ownKeys() { throw new Error('ownKeys trap'); },
    getOwnPropertyDescriptor() { throw new Error('descriptor trap'); },
  });

// --- the logs API
const logger = logs.getLogger('hostile');
/** fate: exported as it is, unreadable (the SDK cannot build it: dropped, counted), or redacted (its body cannot be read by the redactor: exported as "[REDACTED]" with its numbers). */
const emit = (kase, rec, { fate = 'exported' } = {}) => {
  records++;
  if (fate === 'unreadable') unreadable++;
  if (fate === 'redacted') redacted++;
  attempt(kase, () => logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', ...rec, attributes: rec.attributes ?? { run, case: kase } }));
};
emit('huge-body', { body: MB10 });
emit('huge-attr', { body: 'b', attributes: { run, case: 'huge-attr', big: MB10 } });
emit('emoji-body', { body: EMOJI });
emit('circular-body', { body: circular() });
emit('bigint-body', { body: { small: 42n, min: -(2n ** 63n), huge: 2n ** 70n } });
emit('bigint-attr', { body: 'b', attributes: { run, case: 'bigint-attr', n: 42n, ok: 1 } });
emit('symbols', { body: { [Symbol('k')]: 1, v: Symbol('v'), ok: 1 }, attributes: { run, case: 'symbols', [Symbol('a')]: 'x' } });
emit('bytes', { body: BAD_UTF8, attributes: { run, case: 'bytes', raw: BAD_UTF8 } });
const many = { run, case: 'many-attrs' };
for (let i = 0; i < 100_000; i++) many[`k${i}`] = i;
emit('many-attrs', { body: 'many', attributes: many });
emit('getter-attrs', { body: 'b', attributes: getterAttrs('getter-attrs') }, { fate: 'unreadable' });
emit('getter-body', { body: getterAttrs('getter-body'), attributes: { run, case: 'getter-body', runId } }, { fate: 'redacted' });
emit('proxy-body', { body: poisoned(), attributes: { run, case: 'proxy-body', runId } }, { fate: 'redacted' });

// --- the preload's logger
const facade = otel.getLogger('hostile-facade');
records++;
attempt('facade-huge', () => facade.info(MB10, { run, case: 'facade-huge' }));
records++;
unreadable++;
attempt('facade-getter-error', () => facade.error(new Error('e'), getterAttrs('facade-getter-error')));
records++;
unreadable++;
attempt('facade-error-stack', () => {
  const err = new Error('stackless');
  Object.defineProperty(err, 'stack', { get: () => { throw new Error('stack getter'); } });
  facade.error(err, { run, case: 'facade-error-stack' });
});

// --- the trace API: every span method given what it cannot read
const tracer = trace.getTracer('hostile');
let refusedCalls = 0;
const span = tracer.startSpan('hostile-span');
span.setAttributes({ run, case: 'span' });
const spanCalls = [
  () => span.setAttribute('p', poisoned()),
  () => span.setAttributes(getterAttrs('x')),
  () => span.setAttributes(poisoned()),
  () => span.addEvent('e', getterAttrs('x')),
  () => span.addLink({ get context() { throw new Error('context'); } }),
  () => span.addLinks(42),
  () => span.recordException({ get message() { throw new Error('message'); } }),
  () => span.setStatus(null),
];
for (const [i, call] of spanCalls.entries()) {
  refusedCalls++;
  attempt(`span call ${i}`, call);
}
attempt('span huge', () => span.setAttribute('huge', MB10));
attempt('span bigint', () => span.setAttribute('n', 42n)); // not an attribute value: the SDK refuses it (a diag warning)
attempt('span name', () => span.updateName(Symbol('odd')));
attempt('span status', () => span.setStatus({ code: SpanStatusCode.ERROR, message: MB10 }));
refusedCalls++;
attempt('span end', () => span.end(poisoned()));
refusedCalls++;
attempt('startSpan', () => {
  const s = tracer.startSpan('second', { attributes: getterAttrs('x') });
  s.setAttributes({ run, case: 'second-span' });
  s.end();
});

// --- pino (through stdout capture, or through the pino instrumentation when capture is off)
const log = capture ? pino({ base: { run } }) : pino({ base: { run } }, fs.createWriteStream('/dev/null'));
const pinoCase = (kase, obj, msg) => {
  records++;
  attempt(kase, () => log.info({ case: kase, ...obj }, msg));
};
pinoCase('pino-huge', {}, MB10);
pinoCase('pino-circular', { obj: circular() }, 'circular');
pinoCase('pino-bigint', { n: 10n }, 'bigint');
pinoCase('pino-getter', { obj: getterAttrs('inner') }, 'getter'); // pino's own serializer copes (or not): the app must not see a throw

// --- stdout lines a bundled pino would write (capture only)
if (capture) {
  const line = (kase, msgBytes) =>
    Buffer.concat([Buffer.from(`{"level":30,"time":${Date.now()},"run":"${run}","case":"${kase}","msg":"`), msgBytes, Buffer.from('"}\n')]);
  records++;
  attempt('stdout-huge', () => process.stdout.write(line('stdout-huge', Buffer.from(MB10))));
  records++;
  attempt('stdout-bad-utf8', () => process.stdout.write(line('stdout-bad-utf8', BAD_UTF8)));
  records++;
  attempt('fd-bad-utf8', () => fs.writeSync(1, line('fd-bad-utf8', BAD_UTF8)));
  attempt('stdout-broken-json', () => process.stdout.write('{"level":30, "msg": broken\n'));
}

(async () => {
  // pino's async destination and the 20 ms hold of stdout capture: let them settle first
  await new Promise((r) => setTimeout(r, 500));
  await otel.forceFlush();
  const done = { done: true, records, unreadable, redacted, refusedCalls, errors, stats: otel.stats() };
  fs.writeSync(2, `${JSON.stringify(done)}\n`);
})();
