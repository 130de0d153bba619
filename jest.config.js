// The tiers of `npm test`, each saying what it needs:
//   unit         src/**/*.spec.ts, beside the code: nothing but Node (no Redis, no network)
//   integration  test/integration/: against a private redis-server, without the app
//   e2e          test/e2e/: the whole app in this process (createApp), on a private redis-server
//   system       test/system/ and test/resilience/: the built server (dist/main.js) as a child process
const transform = { '^.+\\.ts$': 'ts-jest' };
const common = { testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'], transform };
// The tiers whose worker runs in the jest process: its job lines are captured by JobLines, not shown in the report.
const quietJobLines = ['<rootDir>/test/support/quiet-job-lines.ts'];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts'],
      setupFiles: quietJobLines,
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      setupFiles: quietJobLines,
      slowTestThreshold: 30,
    },
    {
      ...common,
      displayName: 'system',
      testMatch: ['<rootDir>/test/system/**/*.system-spec.ts', '<rootDir>/test/resilience/**/*.system-spec.ts'],
      slowTestThreshold: 30,
    },
  ],
};
