import { join } from 'node:path';
import { SPILL_DEFAULTS, defaultSpillDir, resolveSpillOptions, type ResolveSpillInput, type SpillConfig } from '../src/spill';

const HOME = '/home/u';
const { maxBytes, maxAgeMillis, flushIntervalMillis, segmentBytes } = SPILL_DEFAULTS;
const on = (dir: string, extra: Partial<SpillConfig> = {}): SpillConfig => ({ dir, maxBytes, maxAgeMillis, flushIntervalMillis, segmentBytes, ...extra });

describe('resolveSpillOptions', () => {
  const cases: Array<[string, ResolveSpillInput, SpillConfig | undefined, RegExp[]]> = [
    ['off by default', { env: { HOME } }, undefined, []],
    ['CCR_OTEL_SPILL_DIR turns it on', { env: { HOME, CCR_OTEL_SPILL_DIR: '/var/spill' } }, on('/var/spill'), []],
    ['production: under ~/.cache', { env: { HOME }, production: true }, on(join(HOME, '.cache/ccr-otel/spill')), []],
    ['production: under $XDG_CACHE_HOME', { env: { HOME, XDG_CACHE_HOME: '/xdg' }, production: true }, on('/xdg/ccr-otel/spill'), []],
    ['a relative XDG_CACHE_HOME is ignored', { env: { HOME, XDG_CACHE_HOME: 'rel' }, production: true }, on(join(HOME, '.cache/ccr-otel/spill')), []],
    ['CCR_OTEL_SPILL_DIR=off beats production', { env: { HOME, CCR_OTEL_SPILL_DIR: 'off' }, production: true }, undefined, []],
    ['spill.dir=false beats production', { env: { HOME }, file: { dir: false }, production: true }, undefined, []],
    ['env beats the file', { env: { HOME, CCR_OTEL_SPILL_DIR: '/e' }, file: { dir: '/f' } }, on('/e'), []],
    ['file keys', { env: { HOME }, file: { dir: '/f', maxBytes: 4096, maxAgeMillis: 60000, flushIntervalMillis: 200, segmentBytes: 2048 } },
      on('/f', { maxBytes: 4096, maxAgeMillis: 60000, flushIntervalMillis: 200, segmentBytes: 2048 }), []],
    ['CCR_OTEL_SPILL_MAX_BYTES', { env: { HOME, CCR_OTEL_SPILL_DIR: '/e', CCR_OTEL_SPILL_MAX_BYTES: '1048576' }, file: { maxBytes: 4096 } },
      on('/e', { maxBytes: 1048576 }), []],
    ['bad CCR_OTEL_SPILL_MAX_BYTES warns and keeps the default', { env: { HOME, CCR_OTEL_SPILL_DIR: '/e', CCR_OTEL_SPILL_MAX_BYTES: '12abc' } },
      on('/e'), [/CCR_OTEL_SPILL_MAX_BYTES="12abc"/]],
    ['bad file values warn and keep their defaults', { env: { HOME }, file: { dir: '/f', flushIntervalMillis: 3e9, maxBytes: -1, segmentBytes: '8' as unknown as number } },
      on("/f"), [/spill.maxBytes=-1/, /spill.flushIntervalMillis=3000000000/, /spill.segmentBytes="8"/]],
    ['a bad spill.dir warns', { env: { HOME }, file: { dir: 42 as unknown as string } }, undefined, [/spill.dir=42/]],
  ];
  it.each(cases)('%s', (_name, input, expected, warnings) => {
    const warned: string[] = [];
    expect(resolveSpillOptions({ ...input, warn: (m) => warned.push(m) })).toEqual(expected);
    expect(warned.length).toBe(warnings.length);
    warnings.forEach((w, i) => expect(warned[i]).toMatch(w));
  });

  it('defaultSpillDir follows the environment', () => {
    expect(defaultSpillDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/ccr-otel/spill');
  });
});
