// `npm test` runs both projects: unit specs beside the code, end-to-end specs in test/ (real redis-server).
const transform = { '^.+\\.ts$': 'ts-jest' };
const common = { testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'], transform };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], slowTestThreshold: 30 },
  ],
};
