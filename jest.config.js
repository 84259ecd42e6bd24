/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  // The engine tier needs OpenTofu and the pinned providers: `npm run test:engine` (npm test runs it).
  // The cluster tier runs alone, one cluster at a time: `npm run test:cluster` (npm test runs it last).
  testPathIgnorePatterns: [
    "/node_modules/",
    ...(process.env.KINDHA_ENGINE_TIER === "1" ? [] : ["/__tests__/engine/"]),
    ...(process.env.KINDHA_CLUSTER_TIER === "1" ? [] : ["/__tests__/cluster/"]),
    // The long scenarios on real clusters: `npm run test:scenarios`, outside CI.
    ...(process.env.KINDHA_SCENARIO_TIER === "1" ? [] : ["/__tests__/scenarios/"]),
    // The production tier (Cluster API) needs them and more time: `npm run test:production`, never in CI.
    ...(process.env.KINDHA_PRODUCTION_TIER === "1" ? [] : ["/__tests__/production/"]),
  ],
  // Transpile only (tsconfig's isolatedModules); `npm test` type-checks with tsc first.
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 60000,
  setupFilesAfterEnv: ["<rootDir>/test-support/jest-setup.ts"],
  reporters: ["default", "<rootDir>/test-support/summary-reporter.js"],
};
