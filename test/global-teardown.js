const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const dir = process.env.CCR_TESTS_TMPDIR;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
};
