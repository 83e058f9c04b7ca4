import { defaultSpillDir } from '@ccr/otel-processors/dist/spill/spill-options';
import type { ConfigLayer, ProfileName } from './types';

/**
 * NODE_ENV profiles (from the performance guide):
 * - production: level warn, export on, the durable spill on under the user's cache directory.
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
  return knownProfile(nodeEnv) ?? 'default';
}

function knownProfile(name: string | undefined): ProfileName | undefined {
  const v = (name ?? '').trim().toLowerCase();
  if (v === 'production' || v === 'prod') return 'production';
  if (v === 'development' || v === 'dev') return 'development';
  if (v === 'test') return 'test';
  if (v === 'default' || v === 'none') return 'default';
  return undefined;
}

/**
 * The profile from CCR_OTEL_PROFILE, else NODE_ENV. An unknown CCR_OTEL_PROFILE gets a warning naming
 * it; NODE_ENV has other legitimate values (staging, …) that simply select no profile.
 */
export function selectProfile(env: NodeJS.ProcessEnv, warn: (m: string) => void): ProfileName {
  const explicit = env.CCR_OTEL_PROFILE?.trim();
  if (explicit) {
    const p = knownProfile(explicit);
    if (p) return p;
    warn(`CCR_OTEL_PROFILE=${JSON.stringify(explicit)} is not one of production, development, test, default; using no profile`);
    return 'default';
  }
  return profileName(env.NODE_ENV);
}

export function profileLayer(name: ProfileName, env: NodeJS.ProcessEnv = process.env): ConfigLayer {
  if (name === 'production') return { ...PROFILES.production, spill: { dir: defaultSpillDir(env) } };
  return name === 'default' ? {} : PROFILES[name];
}
