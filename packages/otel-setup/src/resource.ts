import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AttributeValue } from '@opentelemetry/api';
import { defaultResource, detectResources, envDetector, hostDetector, osDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import type { DetectedResourceAttributes, Resource, ResourceDetector } from '@opentelemetry/resources';
import { redactor } from './redact';
import type { Redactor } from './redact';
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

/** The SDK's own detectors, by the names of OTEL_NODE_RESOURCE_DETECTORS (container: loaded on use). */
function detector(name: string): ResourceDetector | undefined {
  switch (name) {
    case 'env':
      return envDetector;
    case 'host':
      return hostDetector;
    case 'os':
      return osDetector;
    case 'process':
      return processDetector;
    case 'serviceinstance':
      // one id per process, the same one the rest of this package reports
      return { detect: () => ({ attributes: { 'service.instance.id': SERVICE_INSTANCE_ID } }) };
    case 'container':
      return (require('@opentelemetry/resource-detector-container') as typeof import('@opentelemetry/resource-detector-container')).containerDetector;
  }
  return undefined;
}

/**
 * The resource, lowest to highest precedence: telemetry.sdk.* (the SDK's defaultResource), what the
 * detectors of OTEL_NODE_RESOURCE_DETECTORS find (the SDK's own: env, host, os, process,
 * serviceinstance, container), the distribution's name and service.instance.id, then the configuration: resourceAttributes
 * (OTEL_RESOURCE_ATTRIBUTES, config file, start() options) win over every built-in value, and
 * service.name / service.version as resolved (OTEL_SERVICE_NAME first). Every value is redacted
 * (process.command_args may hold a --password). Attributes that detectors find asynchronously
 * (host.id, container.id) settle in the background; waitForAsyncAttributes() is started here.
 */
export function buildResource(cfg: Readonly<OtelSetupConfig>, r: Redactor = redactor): Resource {
  const detectors: ResourceDetector[] = [];
  for (const name of cfg.resourceDetectors) {
    try {
      const d = detector(name);
      if (d) detectors.push(d);
    } catch {
      /* a detector that cannot load is skipped */
    }
  }
  // service.instance.id always: CCR runs several Node processes and each must be told apart
  const configured: Record<string, string> = {
    'service.instance.id': SERVICE_INSTANCE_ID,
    'telemetry.distro.name': '@ccr/otel-setup',
    'telemetry.distro.version': DISTRO_VERSION,
  };
  Object.assign(configured, cfg.resourceAttributes, { 'service.name': cfg.serviceName });
  if (cfg.serviceVersion) configured['service.version'] = cfg.serviceVersion;
  const merged = defaultResource()
    .merge(detectResources({ detectors }))
    .merge(resourceFromAttributes(configured));
  const attrs: Record<string, AttributeValue | Promise<AttributeValue | undefined>> = {};
  for (const [k, v] of merged.getRawAttributes()) {
    if (k in attrs) continue; // the first is the winner (Resource.merge puts the updating one first)
    attrs[k] = isPromiseLike(v) ? Promise.resolve(v).then((x) => (x === '' ? undefined : redactAttribute(r, k, x))) : redactAttribute(r, k, v);
  }
  const resource = resourceFromAttributes(attrs as DetectedResourceAttributes);
  if (resource.asyncAttributesPending) void resource.waitForAsyncAttributes?.().catch(() => undefined);
  return resource;
}

function redactAttribute(r: Redactor, key: string, v: AttributeValue | undefined): AttributeValue | undefined {
  if (v === undefined) return v;
  if (key === 'process.command_args' && Array.isArray(v)) return r.redactArgs(v as string[]);
  return r.redactEntry(key, v) as AttributeValue;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** This package's version (package.json beside dist/). */
const DISTRO_VERSION: string = (() => {
  try {
    return (require('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
