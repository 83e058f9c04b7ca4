import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { OtelSetupConfig } from './config/types';

export interface HostPackage {
  name?: string;
  version?: string;
}

/** The host application's package.json, found from the main script upward (not our own). */
export function findHostPackage(script: string | undefined = process.argv[1]): HostPackage {
  if (!script) return {};
  let dir = path.dirname(path.resolve(script));
  for (let i = 0; i < 12; i++) {
    const file = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      // the nearest named package.json is the host's (one without a name, e.g. {"type":"module"} in a
      // subfolder, is skipped); our own (examples, tests) names no host
      if (typeof pkg.name === 'string' && pkg.name !== '') {
        if (pkg.name === '@ccr/otel-setup') return {};
        return { name: pkg.name, version: typeof pkg.version === 'string' ? pkg.version : undefined };
      }
    } catch {
      /* no package.json here */
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return {};
}

/** Service name when neither env nor the host package gives one: the script's name. */
export function scriptName(script: string | undefined = process.argv[1]): string | undefined {
  if (!script) return undefined;
  return path.basename(script).replace(/\.(c|m)?(j|t)s$/, '') || undefined;
}

/** One random id per process: CCR runs several Node processes and each must be told apart. */
export const SERVICE_INSTANCE_ID = randomUUID();

export function buildResource(cfg: Readonly<OtelSetupConfig>): Resource {
  const attrs: Record<string, string | number> = {
    ...cfg.resourceAttributes,
    'service.name': cfg.serviceName,
    'service.instance.id': SERVICE_INSTANCE_ID,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'host.name': os.hostname(),
    'host.arch': os.arch(),
    'os.type': os.platform(),
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.distro.name': '@ccr/otel-setup',
  };
  // the executable (node), not the script: process.argv0 as started, else the binary's name
  attrs['process.executable.name'] = path.basename(process.argv0 || process.execPath).replace(/\.exe$/i, '') || 'node';
  attrs['process.executable.path'] = process.execPath;
  if (process.argv[1]) attrs['process.command'] = process.argv[1];
  if (cfg.serviceVersion) attrs['service.version'] = cfg.serviceVersion;
  return resourceFromAttributes(attrs);
}
