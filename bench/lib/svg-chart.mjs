// A small line-chart SVG writer for the bench results: no dependencies, readable output.

const COLORS = ['#888888', '#d95f02', '#1b9e77', '#7570b3'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

function ticks(min, max, log) {
  if (log) {
    const out = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++)
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v >= min * 0.999 && v <= max * 1.001) out.push(v);
      }
    return out;
  }
  const step = 10 ** Math.floor(Math.log10((max - min) / 4 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (max - min) / s <= 6) ?? step * 10;
  const out = [];
  for (let v = Math.ceil(min / nice) * nice; v <= max + 1e-9; v += nice) out.push(+v.toFixed(6));
  return out;
}

const label = (v) => (v >= 1000 ? `${v / 1000}k` : String(+v.toPrecision(3)));

/** series: [{ name, points: [[x, y], ...] }]. */
export function lineChart({ title, xLabel, yLabel, series, logX = false, logY = false, yMin, yMax, width = 640, height = 360 }) {
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => (logY ? Math.max(y, 0.01) : y));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  let y0 = yMin ?? (logY ? Math.min(...ys) / 1.5 : 0);
  let y1 = yMax ?? Math.max(...ys) * (logY ? 1.5 : 1.1);
  if (y0 === y1) y1 = y0 + 1;
  const L = 60, R = 180, T = 36, B = 48;
  const fx = (x) => L + ((logX ? Math.log(x) - Math.log(x0) : x - x0) / (logX ? Math.log(x1) - Math.log(x0) || 1 : x1 - x0 || 1)) * (width - L - R);
  const fy = (y) => height - B - ((logY ? Math.log(Math.max(y, 0.01)) - Math.log(y0) : y - y0) / (logY ? Math.log(y1) - Math.log(y0) : y1 - y0)) * (height - T - B);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`];
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const v of ticks(x0, x1, logX)) {
    out.push(`<line x1="${fx(v)}" x2="${fx(v)}" y1="${T}" y2="${height - B}" stroke="#eee"/>`);
    out.push(`<text x="${fx(v)}" y="${height - B + 16}" text-anchor="middle">${label(v)}</text>`);
  }
  for (const v of ticks(y0, y1, logY)) {
    out.push(`<line x1="${L}" x2="${width - R}" y1="${fy(v)}" y2="${fy(v)}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${fy(v) + 4}" text-anchor="end">${label(v)}</text>`);
  }
  out.push(`<line x1="${L}" x2="${width - R}" y1="${height - B}" y2="${height - B}" stroke="black"/>`);
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${height - B}" stroke="black"/>`);
  out.push(`<text x="${(L + width - R) / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(T + height - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const p = s.points.filter(([, y]) => Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${p.map(([x, y]) => `${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of p) out.push(`<circle cx="${fx(x).toFixed(1)}" cy="${fy(y).toFixed(1)}" r="3" fill="${c}"/>`);
    out.push(`<line x1="${width - R + 12}" x2="${width - R + 32}" y1="${T + 10 + i * 20}" y2="${T + 10 + i * 20}" stroke="${c}" stroke-width="2"/>`);
    out.push(`<text x="${width - R + 38}" y="${T + 14 + i * 20}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** groups: category labels along x; series: [{ name, values: [one per group] }]; bars side by side per group. */
export function barChart({ title, yLabel, groups, series, width = 640, height = 360, decimals = 2 }) {
  const L = 60, R = 220, T = 36, B = 48;
  const vals = series.flatMap((s) => s.values).filter(Number.isFinite);
  const y1 = Math.max(...vals, 0) * 1.15 || 1;
  const fy = (v) => height - B - (v / y1) * (height - T - B);
  const slot = (width - L - R) / groups.length;
  const barW = Math.min(40, (slot * 0.8) / series.length);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`];
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const v of ticks(0, y1, false)) {
    out.push(`<line x1="${L}" x2="${width - R}" y1="${fy(v)}" y2="${fy(v)}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${fy(v) + 4}" text-anchor="end">${label(v)}</text>`);
  }
  out.push(`<line x1="${L}" x2="${width - R}" y1="${height - B}" y2="${height - B}" stroke="black"/>`);
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${height - B}" stroke="black"/>`);
  out.push(`<text transform="translate(16 ${(T + height - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  groups.forEach((g, gi) => {
    const x0 = L + gi * slot + (slot - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (!Number.isFinite(v)) return;
      const x = x0 + si * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${fy(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(height - B - fy(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`);
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(fy(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${v.toFixed(decimals)}</text>`);
    });
    out.push(`<text x="${(L + gi * slot + slot / 2).toFixed(1)}" y="${height - B + 16}" text-anchor="middle">${esc(g)}</text>`);
  });
  series.forEach((s, i) => {
    out.push(`<rect x="${width - R + 12}" y="${T + 4 + i * 20}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${width - R + 30}" y="${T + 14 + i * 20}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
