import type { Context } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { LevelController } from '@ccr/otel-processors';

/** Development profile: a readable line per log record on stderr ("12:00:00.123 INFO  [scope] message {attrs}"). */
export class ConsoleEchoProcessor implements LogRecordProcessor {
  constructor(
    private readonly level: LevelController,
    private readonly out: (line: string) => void = (l) => void process.stderr.write(l),
  ) {}

  enabled(o: { severityNumber?: number }): boolean {
    return this.level.isEnabled(o.severityNumber);
  }

  onEmit(r: ReadWriteLogRecord, _ctx?: Context): void {
    if (!this.level.isEnabled(r.severityNumber)) return;
    const [s, ns] = r.hrTime;
    const d = new Date(s * 1000 + Math.floor(ns / 1e6));
    const time = d.toISOString().slice(11, 23);
    const sev = (r.severityText ?? String(r.severityNumber ?? '')).padEnd(5);
    const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    const attrs = r.attributes && Object.keys(r.attributes).length ? ' ' + JSON.stringify(r.attributes) : '';
    const trace = r.spanContext ? ` trace=${r.spanContext.traceId.slice(0, 8)}` : '';
    this.out(`${time} ${sev} [${r.instrumentationScope.name}] ${body}${attrs}${trace}\n`);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
