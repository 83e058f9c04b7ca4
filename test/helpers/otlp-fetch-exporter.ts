/**
 * A SpanExporter that sends OTLP/HTTP protobuf with fetch, using the SDK's own serializer
 * (@opentelemetry/otlp-transformer). The SDK's OTLPTraceExporter 0.301.x loads node:http through a
 * dynamic import(), which Jest refuses unless node runs with --experimental-vm-modules; this exporter
 * works in Jest either way and puts the same bytes on the wire.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

export class FetchOtlpTraceExporter implements SpanExporter {
  private pending = new Set<Promise<void>>();
  /** Requests answered with a non-2xx status or failed (kept for assertions). */
  readonly failures: string[] = [];

  constructor(private readonly url: string) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const body = ProtobufTraceSerializer.serializeRequest(spans);
    if (!body) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('serialization failed') });
      return;
    }
    const p = fetch(this.url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: body as Uint8Array<ArrayBuffer> })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.ok) resultCallback({ code: ExportResultCode.SUCCESS });
        else {
          this.failures.push(`HTTP ${res.status}`);
          resultCallback({ code: ExportResultCode.FAILED, error: new Error(`OTLP export -> HTTP ${res.status}`) });
        }
      })
      .catch((error: Error) => {
        this.failures.push(String(error));
        resultCallback({ code: ExportResultCode.FAILED, error });
      });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
  }
}
