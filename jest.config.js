/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  // The engine tier needs providers this project's CI machines cannot install: `npm run test:engine`.
  testPathIgnorePatterns: process.env.KINDHA_ENGINE_TIER === "1" ? ["/node_modules/"] : ["/node_modules/", "/__tests__/engine/"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
  testTimeout: 60000,
  reporters: ["default", "<rootDir>/test-support/summary-reporter.js"],
};
