import type { AnyValue, Attributes, Context } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { REDACTED, redactor as defaultRedactor } from './redact';
import type { Redactor } from './redact';

/**
 * First log-record processor in the chain, before the batching one: the body (string or map, at any
 * depth) and every attribute (exception.message and exception.stacktrace included) go through the
 * Redactor. Copy on write: a clean record costs one cached key look-up per attribute and one scan
 * per string.
 *
 * It never asks for a record (enabled() is false): whether a record is created is up to the others.
 */
export class RedactingLogRecordProcessor implements LogRecordProcessor {
  constructor(private readonly redactor: Redactor = defaultRedactor) {}

  enabled(): boolean {
    return false;
  }

  onEmit(record: ReadWriteLogRecord, _ctx?: Context): void {
    try {
      this.redact(record);
    } catch {
      // never a throw into logger.emit(); and nothing unchecked leaves: keep only numbers and flags
      record.setBody(REDACTED);
      const attrs = record.attributes as Record<string, AnyValue>;
      for (const k in attrs) if (typeof attrs[k] !== 'number' && typeof attrs[k] !== 'boolean') record.setAttribute(k, REDACTED);
    }
  }

  private redact(record: ReadWriteLogRecord): void {
    const r = this.redactor;
    const body = record.body;
    if (body !== undefined && body !== null) {
      const b = r.redactValue(body);
      if (b !== body) record.setBody(b);
    }
    const attrs = record.attributes as Record<string, AnyValue>;
    for (const k in attrs) {
      const v = attrs[k];
      const x = r.redactEntry(k, v);
      if (x !== v) record.setAttribute(k, x);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * First span processor in the chain. Attributes may be set at any time before end(), so the span is
 * redacted once, in onEnding (the last moment it is writable, before any processor's onEnd): its
 * attributes, its events' attributes (exception.message / exception.stacktrace of recordException),
 * its links' attributes, its status message and its name.
 */
export class RedactingSpanProcessor implements SpanProcessor {
  constructor(private readonly redactor: Redactor = defaultRedactor) {}

  onStart(_span: Span, _ctx: Context): void {}

  onEnding(span: Span): void {
    try {
      this.redact(span as unknown as Mutable<ReadableSpan>);
    } catch {
      // never a throw into span.end(); and nothing unchecked leaves: keep only numbers and flags
      const s = span as unknown as Mutable<ReadableSpan>;
      for (const attrs of [s.attributes, ...s.events.map((e) => e.attributes ?? {}), ...s.links.map((l) => l.attributes ?? {})]) {
        for (const k in attrs) if (typeof attrs[k] !== 'number' && typeof attrs[k] !== 'boolean') (attrs as Attributes)[k] = REDACTED;
      }
      if (s.status.message) s.status = { ...s.status, message: REDACTED };
    }
  }

  private redact(s: Mutable<ReadableSpan>): void {
    this.attributes(s.attributes);
    const events = s.events;
    for (let i = 0; i < events.length; i++) if (events[i].attributes) this.attributes(events[i].attributes!);
    const links = s.links;
    for (let i = 0; i < links.length; i++) if (links[i].attributes) this.attributes(links[i].attributes!);
    const msg = s.status.message;
    if (msg) {
      const m = this.redactor.redactText(msg);
      if (m !== msg) s.status = { ...s.status, message: m };
    }
    const name = this.redactor.redactText(s.name);
    if (name !== s.name) s.name = name;
  }

  onEnd(_span: ReadableSpan): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  /** In place: these objects belong to the span (copied by the SDK when they were added). */
  private attributes(attrs: Attributes): void {
    const r = this.redactor;
    for (const k in attrs) {
      const v = attrs[k] as AnyValue;
      const x = r.redactEntry(k, v);
      if (x !== v) attrs[k] = x as Attributes[string];
    }
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
