/** Transpile only: `npm run typecheck` (tsc) checks types once for the whole tree. */
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', moduleResolution: 'node10', isolatedModules: true } }],
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120_000,
  cacheDirectory: '<rootDir>/.jest-cache',
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/unit'],
      testMatch: ['**/*.test.ts'],
      transform,
    },
    {
      // Real Temporal dev server and PostgreSQL, started once for the project by globalSetup.
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/integration'],
      testMatch: ['**/*.test.ts'],
      transform,
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
      setupFiles: ['<rootDir>/test/support/quietRuntime.ts'],
    },
    {
      // Ferry's promises, judged from outside: the whole stack as separate processes, its own per file.
      displayName: 'contract',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/contract'],
      testMatch: ['**/*.test.ts'],
      transform,
    },
  ],
};
