/** The standard OpenTelemetry environment, read as the SDK (sdk-node) reads it. */
import { ROOT_CONTEXT, defaultTextMapSetter } from '@opentelemetry/api';
import { sdkDisabled } from '../src/config/env';
import { resolveConfig } from '../src/config/resolve';
import { buildPropagator } from '../src/sdk';

const resolve = (env: NodeJS.ProcessEnv) => {
  const warnings: string[] = [];
  const cfg = resolveConfig({ env, warn: (m) => warnings.push(m) });
  return { cfg, warnings };
};

describe('OTEL_SDK_DISABLED: true only', () => {
  test.each(['true', 'TRUE', ' True '])('%j disables', (v) => {
    const warnings: string[] = [];
    expect(sdkDisabled({ OTEL_SDK_DISABLED: v }, (m) => warnings.push(m))).toBe(true);
    expect(resolve({ OTEL_SDK_DISABLED: v }).cfg.disabled).toBe(true);
    expect(warnings).toEqual([]);
  });
  test.each(['1', 'yes', 'on'])('%j does not, with a warning', (v) => {
    const { cfg, warnings } = resolve({ OTEL_SDK_DISABLED: v });
    expect(cfg.disabled).toBe(false);
    expect(warnings).toEqual([`OTEL_SDK_DISABLED=${JSON.stringify(v)} is not true or false; telemetry stays on (only "true" disables it, as in the OpenTelemetry SDK)`]);
  });
  test.each(['false', '', undefined])('%j: on, no warning', (v) => {
    const { cfg, warnings } = resolve({ OTEL_SDK_DISABLED: v });
    expect(cfg.disabled).toBe(false);
    expect(warnings).toEqual([]);
  });
});

describe('OTEL_PROPAGATORS', () => {
  const fields = (names: string[]) => buildPropagator(names)?.fields().sort();
  test('default: W3C trace context and baggage', () => {
    expect(resolve({}).cfg.propagators).toEqual(['tracecontext', 'baggage']);
    expect(fields(['tracecontext', 'baggage'])).toEqual(['baggage', 'traceparent', 'tracestate']);
  });
  test('none: no propagator at all (the API no-op stays)', () => {
    expect(resolve({ OTEL_PROPAGATORS: 'none' }).cfg.propagators).toEqual([]);
    expect(resolve({ OTEL_PROPAGATORS: 'tracecontext,none' }).cfg.propagators).toEqual([]);
    expect(buildPropagator([])).toBeUndefined();
  });
  test('b3, b3multi, deduplicated, unknown ones warned about', () => {
    const { cfg, warnings } = resolve({ OTEL_PROPAGATORS: 'b3, tracecontext, b3, xray' });
    expect(cfg.propagators).toEqual(['b3', 'tracecontext']);
    expect(warnings).toEqual(['OTEL_PROPAGATORS: propagator "xray" is not available and is ignored (known: tracecontext, baggage, b3, b3multi, none)']);
    expect(fields(['b3multi'])).toEqual(expect.arrayContaining(['x-b3-traceid', 'x-b3-spanid']));
    // b3 single-header injection works through the composite
    const { trace } = require('@opentelemetry/api');
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
    const carrier: Record<string, string> = {};
    buildPropagator(cfg.propagators)!.inject(ctx, carrier, defaultTextMapSetter);
    expect(carrier.b3).toBe('0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1');
    expect(carrier.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });
});

describe('OTEL_{LOGS,TRACES,METRICS}_EXPORTER lists', () => {
  test('otlp,console: both', () => {
    const { cfg, warnings } = resolve({ OTEL_TRACES_EXPORTER: 'otlp,console', OTEL_METRICS_EXPORTER: 'console, otlp', OTEL_LOGS_EXPORTER: 'otlp,console' });
    expect(warnings).toEqual([]);
    expect(cfg.export).toEqual({ logs: true, traces: true, metrics: true });
    expect(cfg.consoleExport).toEqual({ traces: true, metrics: true });
    expect(cfg.consoleEcho).toBe(true);
  });
  test('console alone, none alone', () => {
    const { cfg } = resolve({ OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
    expect(cfg.export).toEqual({ logs: false, traces: false, metrics: false });
    expect(cfg.consoleExport).toEqual({ traces: true, metrics: false });
    expect(cfg.consoleEcho).toBe(false);
  });
  test('none with others is ignored with a warning; unknown exporters are warned about', () => {
    const { cfg, warnings } = resolve({ OTEL_TRACES_EXPORTER: 'otlp,none', OTEL_METRICS_EXPORTER: 'prometheus' });
    expect(cfg.export.traces).toBe(true);
    expect(cfg.export.metrics).toBe(false);
    expect(warnings).toEqual([
      'OTEL_TRACES_EXPORTER lists "none" with other exporters; "none" is ignored',
      'OTEL_METRICS_EXPORTER: exporter "prometheus" is not supported and is ignored (supported: otlp, console, none)',
    ]);
  });
  test('the development echo stays with OTEL_LOGS_EXPORTER=otlp', () => {
    expect(resolve({ NODE_ENV: 'development', OTEL_LOGS_EXPORTER: 'otlp' }).cfg.consoleEcho).toBe(true);
  });
  test('the test profile exports only what the list asks for', () => {
    const { cfg } = resolve({ NODE_ENV: 'test', OTEL_TRACES_EXPORTER: 'otlp,console' });
    expect(cfg.export).toEqual({ logs: false, traces: true, metrics: false });
  });
});

describe('OTEL_NODE_RESOURCE_DETECTORS', () => {
  test('default: all of them', () => {
    expect(resolve({}).cfg.resourceDetectors).toEqual(['env', 'host', 'os', 'process', 'serviceinstance', 'container']);
    expect(resolve({ OTEL_NODE_RESOURCE_DETECTORS: 'all' }).cfg.resourceDetectors).toHaveLength(6);
  });
  test('a list, none, unknown names', () => {
    expect(resolve({ OTEL_NODE_RESOURCE_DETECTORS: 'none' }).cfg.resourceDetectors).toEqual([]);
    const { cfg, warnings } = resolve({ OTEL_NODE_RESOURCE_DETECTORS: 'host, os,gcp' });
    expect(cfg.resourceDetectors).toEqual(['host', 'os']);
    expect(warnings[0]).toMatch(/OTEL_NODE_RESOURCE_DETECTORS: detector "gcp" is unknown/);
  });
});
