/**
 * `node --import @ccr/otel-setup/register app.mjs` (ESM apps) and `-r @ccr/otel-setup/register`.
 * Starts like the preload, then re-syncs the builtin ESM exports so that `import { request } from
 * 'node:http'` sees the instrumented functions.
 */
import { syncBuiltinESMExports } from 'node:module';
import { startFromPreload } from './index';

export * from './index';

startFromPreload();
try {
  require('node:http');
  require('node:https');
  syncBuiltinESMExports();
} catch {
  /* nothing to sync */
}
