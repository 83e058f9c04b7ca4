import { logs, SeverityNumber } from '@opentelemetry/api';
import type { Attributes, LogRecord, Logger as OtelLogger } from '@opentelemetry/api';

/** Attributes that cannot be read: what stands for a record whose own fields could not be. */
const UNREADABLE = new Proxy({} as Attributes, {
  ownKeys() {
    throw new Error('unreadable log record');
  },
});

/** A small façade over the OpenTelemetry logs API: getLogger(name).info('message', { attrs }). */
export interface Logger {
  trace(message: string, attributes?: Attributes): void;
  debug(message: string, attributes?: Attributes): void;
  info(message: string, attributes?: Attributes): void;
  warn(message: string, attributes?: Attributes): void;
  error(message: string | Error, attributes?: Attributes): void;
  fatal(message: string | Error, attributes?: Attributes): void;
  /** true when a record of this severity would be kept (cheap: ask before building attributes). */
  isEnabled(severity: SeverityNumber): boolean;
}

type EnabledLogger = OtelLogger & { enabled?: (o: { severityNumber?: SeverityNumber }) => boolean };

class FacadeLogger implements Logger {
  private delegate: EnabledLogger | undefined;
  constructor(
    private readonly name: string,
    private readonly version?: string,
  ) {}

  /** Resolved at first use so a logger made before start() still reaches the provider. */
  private get otel(): EnabledLogger {
    return (this.delegate ??= logs.getLogger(this.name, this.version) as EnabledLogger);
  }

  isEnabled(severity: SeverityNumber): boolean {
    const l = this.otel;
    return typeof l.enabled === 'function' ? l.enabled({ severityNumber: severity }) : true;
  }

  private log(severityNumber: SeverityNumber, severityText: string, message: string | Error, attributes?: Attributes): void {
    // no enabled() here: the SDK's Logger.emit asks the processors itself; a refusal counts once (countRefusedEmits)
    const l = this.otel;
    if (message instanceof Error) {
      let record: LogRecord;
      try {
        record = {
          severityNumber,
          severityText,
          body: message.message,
          attributes: { ...attributes, 'exception.type': message.name, 'exception.message': message.message, 'exception.stacktrace': message.stack ?? '' },
        };
      } catch {
        // an error or attributes whose getters throw: handed on as unreadable, for the SDK's emit to
        // count as such (countRefusedEmits), never thrown into the application
        record = { severityNumber, severityText, attributes: UNREADABLE };
      }
      try {
        l.emit(record);
      } catch {
        /* no processor counts it (logs not exported): nothing else to do */
      }
      return;
    }
    l.emit({ severityNumber, severityText, body: message, attributes });
  }

  trace(m: string, a?: Attributes): void {
    this.log(SeverityNumber.TRACE, 'TRACE', m, a);
  }
  debug(m: string, a?: Attributes): void {
    this.log(SeverityNumber.DEBUG, 'DEBUG', m, a);
  }
  info(m: string, a?: Attributes): void {
    this.log(SeverityNumber.INFO, 'INFO', m, a);
  }
  warn(m: string, a?: Attributes): void {
    this.log(SeverityNumber.WARN, 'WARN', m, a);
  }
  error(m: string | Error, a?: Attributes): void {
    this.log(SeverityNumber.ERROR, 'ERROR', m, a);
  }
  fatal(m: string | Error, a?: Attributes): void {
    this.log(SeverityNumber.FATAL, 'FATAL', m, a);
  }
}

export function createLogger(name: string, version?: string): Logger {
  return new FacadeLogger(name, version);
}
