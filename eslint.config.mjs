// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**', '.jest-cache/**'] },
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs', globals: { module: 'readonly', require: 'readonly', __dirname: 'readonly' } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Use an `as const` object instead of an enum.' }],
    },
  },
  {
    // Workflow code is replayed and must be deterministic. Temporal's sandbox already makes Date and
    // Math.random deterministic, but I/O, Node builtins and real timers would break replay.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows must not use Node builtins; do I/O in an activity.' })),
          patterns: [
            { regex: '^(\\.\\./)+activities(/(?!types$).*)?$', allowTypeImports: true, message: 'Import activities into workflows as types only (proxyActivities).' },
            { group: ['pg', 'express', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'pino', 'zod'], message: 'Not deterministic or not available in the workflow sandbox.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() or condition() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop.' },
        { name: 'setImmediate', message: 'Not deterministic.' },
        { name: 'fetch', message: 'Do I/O in an activity.' },
        { name: 'process', message: 'Workflows must not read the environment; pass settings in.' },
        { name: 'require', message: 'Use static imports.' },
        { name: 'crypto', message: 'Use uuid4() from @temporalio/workflow.' },
        { name: 'performance', message: 'Not deterministic.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use uuid4() from @temporalio/workflow for ids.' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
