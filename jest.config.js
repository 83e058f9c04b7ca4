/** Two projects: fast unit tests beside the packages, and integration tests under test/ that start real processes. */
const transform = { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
module.exports = {
  // Integration tests start real collectors and Jaeger on a 2-core machine: one file at a time.
  maxWorkers: 1,
  // testTimeout is a global option (ignored inside a project): integration tests start real processes.
  testTimeout: 180000,
  // a temporary directory per run for the files of the collectors and Jaegers the tests start
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      transform,
      testEnvironment: 'node',
    },
  ],
};
