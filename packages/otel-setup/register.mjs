// ESM entry for `node --import @ccr/otel-setup/register app.mjs`. As the SDK's own register does, the
// import-in-the-middle loader hook is registered first, with a message channel so that it wraps only
// the modules an instrumentation asks for (pino, winston, …); then the CommonJS register starts
// telemetry (the instrumentations tell the hook their modules); then we wait until the loader has
// them, before the application's first import. Never throws into the host.
import { createRequire, register } from 'node:module';

const require = createRequire(import.meta.url);
let waitForHook;
try {
  // the instance the bundled instrumentations use (the bundle keeps import-in-the-middle out, for
  // this), and its own loader hook (what @opentelemetry/instrumentation/hook.mjs re-exports): one copy
  // for the channel, the hook and the instrumentations, however the install lays the packages out
  const { createAddHookMessageChannel } = require('import-in-the-middle');
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  waitForHook = waitForAllMessagesAcknowledged;
} catch (e) {
  process.stderr.write(`[ccr-otel] ESM instrumentation hook not registered (${e?.message ?? e}); ESM modules are not instrumented\n`);
}
try {
  require('./bundle/register.js');
  if (waitForHook) await waitForHook();
} catch (e) {
  process.stderr.write(`[ccr-otel] telemetry could not start: ${e?.message ?? e}; the application runs without it\n`);
}
