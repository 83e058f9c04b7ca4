// One temporary directory per test run for the collectors and Jaeger the helpers start (their files
// are read after they stop); global-teardown.js removes it.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = async function globalSetup() {
  process.env.CCR_TESTS_TMPDIR = fs.mkdtempSync(path.join(os.tmpdir(), 'ccr-otel-tests-'));
};
