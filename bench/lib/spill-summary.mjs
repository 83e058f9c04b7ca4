// Medians and the markdown table of the durable-spill cost (bench/spill.mjs), shared by
// `node bench/spill.mjs` and `npm run bench` (bench/run.mjs), which runs spill.mjs once per run.

const MiB = 1024 * 1024;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * raw: { write: [], replay: [], replayLive: [], floor: [], floorLive: [] }, one element per run
 * (see bench/spill.mjs). Returns the medians over the runs.
 */
export function summarizeSpill(raw, meta) {
  const rate = (xs, key) => median(xs.map((x) => x[key] / (x.ms / 1000)));
  const eld = (xs) => ({
    eldP99Ms: median(xs.map((x) => x.p99)),
    eldMaxMs: median(xs.map((x) => x.max)),
  });
  const baseline = (xs) => ({
    baselineEldP99Ms: median(xs.map((x) => x.baseP99)),
    baselineEldMaxMs: median(xs.map((x) => x.baseMax)),
  });
  return {
    ...meta,
    runs: raw.write.length,
    write: {
      recordsPerSec: rate(raw.write, 'records'),
      mibPerSec: rate(raw.write, 'bytes') / MiB,
      appendMicrosPerBatch: median(raw.write.map((x) => (x.appendMs * 1000) / x.batches)),
      // on disk, headers included
      bytesPerRecord: median(raw.write.map((x) => x.bytes / x.records)),
    },
    replay: {
      openMs: median(raw.replay.map((x) => x.openMs)),
      recordsPerSec: rate(raw.replay, 'records'),
      mibPerSec: rate(raw.replay, 'bytes') / MiB,
      ...eld(raw.replay),
      ...baseline(raw.replay),
    },
    replayWithLive: {
      recordsPerSec: rate(raw.replayLive, 'records'),
      mibPerSec: rate(raw.replayLive, 'bytes') / MiB,
      ...eld(raw.replayLive),
      ...baseline(raw.replayLive),
    },
    floor: { recordsPerSec: rate(raw.floor, 'records'), ...eld(raw.floor) },
    floorWithLive: { recordsPerSec: rate(raw.floorLive, 'records'), ...eld(raw.floorLive) },
  };
}

/** The table of a summary, as markdown lines. */
export function spillTable(s) {
  const f0 = (n) => Math.round(n).toLocaleString('en-US');
  const f1 = (n) => n.toFixed(1);
  const f2 = (n) => n.toFixed(2);
  const eld = (x) => `${f2(x.eldP99Ms)} / ${f2(x.eldMaxMs)}`;
  const base = (x) => `${f2(x.baselineEldP99Ms)} / ${f2(x.baselineEldMaxMs)}`;
  return [
    `### Durable spill: ${f0(s.batches)} batches of ${s.recordsPerBatch} records (${f0(s.payloadBytes)} B each), medians of ${s.runs} run(s) (bench/spill.mjs)`,
    '',
    '| step | records/s | MiB/s | event-loop delay p99 / max ms | same span without replay p99 / max ms | other |',
    '|---|---:|---:|---:|---:|---|',
    `| write: append() until on disk | ${f0(s.write.recordsPerSec)} | ${f1(s.write.mibPerSec)} | | | append() ${f1(s.write.appendMicrosPerBatch)} µs per batch on the main thread; ${f1(s.write.bytesPerRecord)} B per record on disk |`,
    `| successor open (adopt and index) | | | | | ${f1(s.replay.openMs)} ms, asynchronous |`,
    `| replay, send answering at once | ${f0(s.replay.recordsPerSec)} | ${f1(s.replay.mibPerSec)} | ${eld(s.replay)} | ${base(s.replay)} | |`,
    `| replay beside 100k records/s of live work | ${f0(s.replayWithLive.recordsPerSec)} | ${f1(s.replayWithLive.mibPerSec)} | ${eld(s.replayWithLive)} | ${base(s.replayWithLive)} | |`,
    `| floor: the same reads and CRC-32s, no spill | ${f0(s.floor.recordsPerSec)} | | ${eld(s.floor)} | | |`,
    `| floor beside the live work | ${f0(s.floorWithLive.recordsPerSec)} | | ${eld(s.floorWithLive)} | | |`,
    '',
  ];
}
