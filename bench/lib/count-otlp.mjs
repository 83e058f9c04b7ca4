// Counts the records in an OTLP protobuf export request without decoding it whole.
// Logs and traces share the shape: request { 1: resource_x { 2: scope_x { 2: record } } }.

function varint(buf, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [result, pos];
    shift += 7;
  }
}

/** Calls fn(start, end) for each length-delimited field `field` in buf[start, end). */
function eachField(buf, start, end, field, fn) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(buf, pos);
    const wire = key & 7;
    const num = Math.floor(key / 8);
    if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      if (num === field) fn(pos, pos + len);
      pos += len;
    } else if (wire === 0) {
      [, pos] = varint(buf, pos);
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

export function countOtlpRecords(buf) {
  let n = 0;
  eachField(buf, 0, buf.length, 1, (s1, e1) =>
    eachField(buf, s1, e1, 2, (s2, e2) => eachField(buf, s2, e2, 2, () => n++)),
  );
  return n;
}
