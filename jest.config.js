/** @type {import('jest').Config} */
module.exports = {
  // Shares the main realm's typed-array constructors with tests, so onnxruntime-node outputs and
  // tfjs weight buffers pass instanceof checks (see the file for why).
  testEnvironment: '<rootDir>/test/helpers/onnx-ort-environment.js',
  roots: ['<rootDir>/test', '<rootDir>/src'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }],
  },
  testTimeout: 120000,
  maxWorkers: 2,
  // After the run, lists every test the dependency gate skipped or failed (test/helpers/require-dep.ts).
  reporters: ['default', '<rootDir>/test/helpers/skip-summary-reporter.js'],
};
