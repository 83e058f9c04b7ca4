// ESM entry for `node --import @ccr/otel-setup/register app.mjs`: runs the CommonJS register.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
require('./dist/register.js');
