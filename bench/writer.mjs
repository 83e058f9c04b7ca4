// Why the encoder has its own protobuf writer: the same log record (the one bench/scenario.mjs
// emits) written with @bufbuild/protobuf's BinaryWriter and with our ProtoWriter, same process,
// alternating rounds; medians of the rounds. Both outputs are checked to be the same bytes.
//   node bench/writer.mjs
import { createRequire } from 'node:module';
import { encodeLogRecord, ProtoWriter } from '@ccr/otel-processors';

const require = createRequire(new URL('../packages/processors/package.json', import.meta.url));
const { BinaryWriter, WireType } = require('@bufbuild/protobuf/wire');

const rec = {
  hrTime: [1_700_000_000, 123_456_789],
  hrTimeObserved: [1_700_000_000, 123_456_789],
  severityNumber: 9,
  severityText: 'INFO',
  body: 'request forwarded to provider',
  attributes: { 'ccr.request.id': 12345, 'http.route': '/v1/messages', 'gen_ai.request.model': 'claude-sonnet' },
  droppedAttributesCount: 0,
};

const nanos = (t) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

function anyValue(w, v) {
  if (typeof v === 'string') w.tag(1, WireType.LengthDelimited).string(v);
  else if (typeof v === 'number' && Number.isInteger(v)) w.tag(3, WireType.Varint).int64(v);
  else if (typeof v === 'number') w.tag(4, WireType.Bit64).double(v);
  else if (typeof v === 'boolean') w.tag(2, WireType.Varint).bool(v);
}

/** The same fields, in the same order, with BinaryWriter (fork/join per nested message). */
function bufbuildEncode(w, r) {
  w.tag(1, WireType.Bit64).fixed64(nanos(r.hrTime));
  w.tag(2, WireType.Varint).int32(r.severityNumber);
  w.tag(3, WireType.LengthDelimited).string(r.severityText);
  w.tag(5, WireType.LengthDelimited).fork();
  anyValue(w, r.body);
  w.join();
  for (const k in r.attributes) {
    w.tag(6, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(k);
    w.tag(2, WireType.LengthDelimited).fork();
    anyValue(w, r.attributes[k]);
    w.join();
    w.join();
  }
  w.tag(7, WireType.Varint).uint32(r.droppedAttributesCount);
  w.tag(11, WireType.Bit64).fixed64(nanos(r.hrTimeObserved));
}

const ours = new ProtoWriter();
ours.reset();
encodeLogRecord(ours, rec);
const a = ours.toBytes();
const bw = new BinaryWriter();
bufbuildEncode(bw, rec);
const b = bw.finish();
if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error('the two writers disagree');

const N = 50_000;
const time = (fn) => {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn();
  return ((performance.now() - t0) * 1000) / N;
};
const rounds = { bufbuild: [], ours: [] };
for (let r = 0; r < 11; r++) {
  rounds.bufbuild.push(
    time(() => {
      const w = new BinaryWriter();
      bufbuildEncode(w, rec);
      w.finish();
    }),
  );
  rounds.ours.push(
    time(() => {
      ours.reset();
      encodeLogRecord(ours, rec);
    }),
  );
}
const median = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
const m = { bufbuild: median(rounds.bufbuild.slice(1)), ours: median(rounds.ours.slice(1)) };
console.log(JSON.stringify({ recordBytes: a.length, usPerRecord: { bufbuildBinaryWriter: +m.bufbuild.toFixed(3), protoWriter: +m.ours.toFixed(3) }, ratio: +(m.bufbuild / m.ours).toFixed(2) }));
