/** Shared pieces of the end-to-end tests: flattening what the collector wrote, and reading Jaeger traces. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonLines, signalFiles } from '../helpers/collector';
import { attrValue } from '../helpers/otlp-json';

export interface FlatLog {
  service: string;
  pid: number | undefined;
  instanceId: string | undefined;
  scope: string;
  severityText: string | undefined;
  severityNumber: number | undefined;
  body: unknown;
  traceId: string;
  spanId: string;
  attrs: Record<string, unknown>;
}

function attrMap(list: any[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = attrValue(list, kv.key);
  return out;
}

function bodyValue(b: any): unknown {
  if (!b) return undefined;
  if ('stringValue' in b) return b.stringValue;
  return b;
}

/** Every log record in the collector's log files (current and rotated), with its resource flattened in. */
export function readLogs(dataDir: string): FlatLog[] {
  const out: FlatLog[] = [];
  for (const req of readJsonLines(signalFiles(dataDir, 'logs').all)) {
    for (const rl of req.resourceLogs ?? []) {
      const res = attrMap(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const r of sl.logRecords ?? []) {
          out.push({
            service: String(res['service.name']),
            pid: res['process.pid'] as number | undefined,
            instanceId: res['service.instance.id'] as string | undefined,
            scope: sl.scope?.name ?? '',
            severityText: r.severityText,
            severityNumber: r.severityNumber,
            body: bodyValue(r.body),
            traceId: (r.traceId ?? '').toLowerCase(),
            spanId: (r.spanId ?? '').toLowerCase(),
            attrs: attrMap(r.attributes),
          });
        }
      }
    }
  }
  return out;
}

/** Names of the metrics in the collector's metric files, per service. */
export function readMetricNames(dataDir: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const req of readJsonLines(signalFiles(dataDir, 'metrics').all)) {
    for (const rm of req.resourceMetrics ?? []) {
      const svc = String(attrValue(rm.resource?.attributes, 'service.name'));
      const set = out.get(svc) ?? new Set<string>();
      out.set(svc, set);
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) set.add(m.name);
    }
  }
  return out;
}

/** Every file under dir (recursively). */
export function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Files under dir whose bytes contain any of the needles (binary-safe). */
export function filesContaining(dir: string, needles: string[]): { file: string; needle: string }[] {
  const hits: { file: string; needle: string }[] = [];
  for (const f of allFiles(dir)) {
    const buf = fs.readFileSync(f);
    for (const n of needles) if (buf.includes(Buffer.from(n))) hits.push({ file: f, needle: n });
  }
  return hits;
}

// ------------------------------------------------------------------------------------------------
// Jaeger (/api/traces shape): spans with tags [{key, value}], logs [{fields: [{key, value}]}] for events

export function tag(span: any, key: string): unknown {
  return (span.tags ?? []).find((t: any) => t.key === key)?.value;
}

export function processTag(trace: any, span: any, key: string): unknown {
  return (trace.processes?.[span.processID]?.tags ?? []).find((t: any) => t.key === key)?.value;
}

/** Phase events of a span (one per phase) as their names, "incomplete:name" for a phase still open at the end. */
export function phaseEvents(span: any): string[] {
  const out: string[] = [];
  for (const l of span.logs ?? []) {
    const f: Record<string, unknown> = {};
    for (const kv of l.fields ?? []) f[kv.key] = kv.value;
    if (f.event === 'phase') out.push(`${f['ccr.phase.incomplete'] === true ? 'incomplete:' : ''}${f['ccr.phase.name']}`);
  }
  return out;
}

export function parentSpanId(span: any): string | undefined {
  return (span.references ?? []).find((r: any) => r.refType === 'CHILD_OF')?.spanID;
}

/** The phases every tracked request that called one upstream must show, each ended (not incomplete). */
export const EXPECTED_PHASES = ['ingress', 'upstream', 'response'];

export function missingPhases(span: any, phases = EXPECTED_PHASES): string[] {
  const ev = new Set(phaseEvents(span));
  return phases.filter((p) => !ev.has(p));
}
