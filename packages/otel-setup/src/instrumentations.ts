import type { LoggerProvider, MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { KNOWN_INSTRUMENTATIONS } from './config/defaults';
import type { InstrumentationName } from './config/defaults';
import type { OtelSetupConfig } from './config/types';
import { SECRET_QUERY_PARAMS } from './redact';

/**
 * Which instrumentations run: all known ones (http, undici, pino, winston, runtime-node), narrowed by
 * OTEL_NODE_ENABLED_INSTRUMENTATIONS and then OTEL_NODE_DISABLED_INSTRUMENTATIONS. fs and dns are
 * not among them: no noise by default.
 */
export function selectInstrumentations(cfg: Readonly<OtelSetupConfig>): InstrumentationName[] {
  const enabled = cfg.instrumentations.enabled;
  const base = enabled ? KNOWN_INSTRUMENTATIONS.filter((n) => enabled.includes(n)) : [...KNOWN_INSTRUMENTATIONS];
  return base.filter((n) => !cfg.instrumentations.disabled.includes(n));
}

export interface InstrumentationHooks {
  /** true: request tracking makes the HTTP server spans (request-tracking.ts): instrumentation-http instruments outgoing requests only. */
  ownServerSpans?: boolean;
  /** false: the pino bridge keeps injecting trace ids but sends no records (stdout capture sends them). */
  pinoLogSending?: boolean;
}

/** Creates (requires lazily) and enables the selected instrumentations. Returns them for disable(). */
export function enableInstrumentations(
  names: InstrumentationName[],
  providers: { tracerProvider: TracerProvider; meterProvider: MeterProvider; loggerProvider: LoggerProvider },
  hooks: InstrumentationHooks = {},
): Instrumentation[] {
  const list: Instrumentation[] = [];
  for (const name of names) {
    try {
      const inst = create(name, hooks);
      if (inst) list.push(inst);
    } catch (e) {
      process.stderr.write(`[ccr-otel] instrumentation ${name} could not be loaded: ${(e as Error).message}\n`);
    }
  }
  // registerInstrumentations sets the providers and enables each one
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');
  registerInstrumentations({ instrumentations: list, ...providers });
  return list;
}

function create(name: InstrumentationName, hooks: InstrumentationHooks): Instrumentation | undefined {
  switch (name) {
    case 'http': {
      const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
      return new HttpInstrumentation({
        redactedQueryParams: SECRET_QUERY_PARAMS,
        redactedQueryParamsServer: SECRET_QUERY_PARAMS,
        disableIncomingRequestInstrumentation: hooks.ownServerSpans === true,
      }) as unknown as Instrumentation;
    }
    case 'undici': {
      const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici');
      return new UndiciInstrumentation({}) as unknown as Instrumentation;
    }
    case 'pino': {
      const { PinoInstrumentation } = require('@opentelemetry/instrumentation-pino') as typeof import('@opentelemetry/instrumentation-pino');
      return new PinoInstrumentation({ disableLogSending: hooks.pinoLogSending === false }) as unknown as Instrumentation;
    }
    case 'winston': {
      const { WinstonInstrumentation } = require('@opentelemetry/instrumentation-winston') as typeof import('@opentelemetry/instrumentation-winston');
      return new WinstonInstrumentation({}) as unknown as Instrumentation;
    }
    case 'runtime-node': {
      const { RuntimeNodeInstrumentation } = require('@opentelemetry/instrumentation-runtime-node') as typeof import('@opentelemetry/instrumentation-runtime-node');
      return new RuntimeNodeInstrumentation({ monitoringPrecision: 5000 }) as unknown as Instrumentation;
    }
  }
  return undefined;
}
