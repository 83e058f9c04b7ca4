/** Small builders for OTLP-JSON request bodies (the wire format the collector's OTLP/HTTP receiver accepts). */

export interface TestLogRecord {
  seq: number;
  body: string;
  severityNumber?: number;
  attributes?: Record<string, string | number | boolean>;
}

function anyValue(v: string | number | boolean): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

export function attrs(a: Record<string, string | number | boolean>): { key: string; value: Record<string, unknown> }[] {
  return Object.entries(a).map(([key, v]) => ({ key, value: anyValue(v) }));
}

/** An ExportLogsServiceRequest with one resource/scope holding `records`; each record carries its `seq` attribute. */
export function logsRequest(serviceName: string, records: TestLogRecord[], resourceAttrs: Record<string, string> = {}): unknown {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceLogs: [
      {
        resource: { attributes: attrs({ 'service.name': serviceName, ...resourceAttrs }) },
        scopeLogs: [
          {
            scope: { name: 'ccr-otel-tests' },
            logRecords: records.map((r) => ({
              timeUnixNano: String(now),
              observedTimeUnixNano: String(now),
              severityNumber: r.severityNumber ?? 9,
              severityText: 'INFO',
              body: { stringValue: r.body },
              attributes: attrs({ seq: r.seq, ...(r.attributes ?? {}) }),
            })),
          },
        ],
      },
    ],
  };
}

/** All log records in parsed OTLP-JSON export requests (as read by readJsonLines). */
export function logRecordsOf(requests: any[]): any[] {
  const out: any[] = [];
  for (const req of requests) for (const rl of req.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) out.push(...(sl.logRecords ?? []));
  return out;
}

/** All spans in parsed OTLP-JSON trace export requests. */
export function spansOf(requests: any[]): any[] {
  const out: any[] = [];
  for (const req of requests) for (const rs of req.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) out.push(...(ss.spans ?? []));
  return out;
}

/** Value of an attribute in an OTLP-JSON attribute list, as a JS value (intValue -> number). */
export function attrValue(list: any[] | undefined, key: string): unknown {
  const kv = (list ?? []).find((a) => a.key === key);
  if (!kv) return undefined;
  const v = kv.value ?? {};
  if ('intValue' in v) return Number(v.intValue);
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('doubleValue' in v) return v.doubleValue;
  return v;
}
