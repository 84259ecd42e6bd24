/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  // The engine tier needs providers this project's CI machines cannot install: `npm run test:engine`.
  // The cluster tier runs alone, one cluster at a time: `npm run test:cluster` (npm test runs it last).
  testPathIgnorePatterns: [
    "/node_modules/",
    ...(process.env.KINDHA_ENGINE_TIER === "1" ? [] : ["/__tests__/engine/"]),
    ...(process.env.KINDHA_CLUSTER_TIER === "1" ? [] : ["/__tests__/cluster/"]),
    // The deploy tier needs the pinned providers too: `npm run test:deploy`, never in CI.
    ...(process.env.KINDHA_DEPLOY_TIER === "1" ? [] : ["/__tests__/deploy/"]),
    // The production tier (Cluster API) needs them and more time: `npm run test:production`, never in CI.
    ...(process.env.KINDHA_PRODUCTION_TIER === "1" ? [] : ["/__tests__/production/"]),
  ],
  // Transpile only (tsconfig's isolatedModules); `npm test` type-checks with tsc first.
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 60000,
  setupFilesAfterEnv: ["<rootDir>/test-support/jest-setup.ts"],
  reporters: ["default", "<rootDir>/test-support/summary-reporter.js"],
};
