/**
 * What `node -r @ccr/otel-setup app.js` (and NODE_OPTIONS="--require @ccr/otel-setup") runs: start
 * with the configuration from defaults, NODE_ENV profile, CCR_OTEL_CONFIG and the environment. The
 * API is re-exported so `require('@ccr/otel-setup')` from app code returns it too.
 */
import { startFromPreload } from './index';

export * from './index';

startFromPreload();
