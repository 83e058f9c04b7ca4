import type { ConfigLayer, ProfileName } from './types';

/**
 * NODE_ENV profiles (from the performance guide):
 * - production: level warn, export on.
 * - development: level debug, export on, readable console echo on stderr.
 * - test: silent, nothing exported unless asked (OTEL_*_EXPORTER=otlp, an explicit endpoint, or CCR_OTEL_EXPORT=true), no leak watch.
 */
export const PROFILES: Record<Exclude<ProfileName, 'default'>, ConfigLayer> = {
  production: { level: 'warn', export: { logs: true, traces: true, metrics: true } },
  development: { level: 'debug', consoleEcho: true, export: { logs: true, traces: true, metrics: true } },
  test: {
    level: 'silent',
    export: { logs: false, traces: false, metrics: false },
    leakWatch: { enabled: false },
    adaptive: { enabled: false },
  },
};

export function profileName(nodeEnv: string | undefined): ProfileName {
  const v = (nodeEnv ?? '').trim().toLowerCase();
  if (v === 'production' || v === 'prod') return 'production';
  if (v === 'development' || v === 'dev') return 'development';
  if (v === 'test') return 'test';
  return 'default';
}

export function profileLayer(name: ProfileName): ConfigLayer {
  return name === 'default' ? {} : PROFILES[name];
}
