// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/**
 * The layers, top down, following the flow gateway → log → relay → workflow → transform → deliver.
 * A folder may import its own layer and the layers below it, never one above: the lower a folder,
 * the less it knows. Tools (scripts, benchmarks, tests, the CLI) sit on top and must not import each other.
 */
const LAYERS = [
  ['scripts', 'bench', 'test', 'cli'],
  ['workers', 'api'],
  ['relay', 'ops'],
  ['workflows'],
  ['activities'],
  ['log'],
  ['destinations', 'transformations', 'config', 'db', 'temporal', 'processes', 'control', 'metrics', 'fuzz'],
  ['delivery', 'events', 'errors'],
];
const TOOLS = new Set(LAYERS[0]);

/** `no-restricted-imports` patterns that keep a folder from importing a folder above it. */
function layerPatterns(folder) {
  const level = LAYERS.findIndex((layer) => layer.includes(folder));
  const above = LAYERS.slice(0, level).flat();
  // Tests may import the CLI they test; otherwise tools share code only through the layers below.
  const forbidden = TOOLS.has(folder) ? [...TOOLS].filter((tool) => tool !== folder && !(folder === 'test' && tool === 'cli')) : above;
  if (forbidden.length === 0) return [];
  return [
    {
      regex: `^(\\.\\./)+(${forbidden.join('|')})(/|$)`,
      message: TOOLS.has(folder)
        ? `${folder}/ is a tool; tools do not import each other (${forbidden.join(', ')}): share code through a layer below.`
        : `${folder}/ sits below ${forbidden.join(', ')} in the flow (see LAYERS in eslint.config.mjs): import downwards only.`,
    },
  ];
}

/** Workflow code is replayed and must be deterministic: I/O, Node builtins and real timers would break replay. */
const WORKFLOW_IMPORTS = {
  paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows must not use Node builtins; do I/O in an activity.' })),
  patterns: [
    { regex: '^(\\.\\./)+activities(/(?!contract$).*)?$', allowTypeImports: true, message: 'Import activities into workflows as types only (proxyActivities).' },
    { group: ['pg', 'express', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'pino', 'zod'], message: 'Not deterministic or not available in the workflow sandbox.' },
  ],
};

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
    // Temporal's sandbox already makes Date and Math.random deterministic; the rest is on us.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { ...WORKFLOW_IMPORTS, patterns: [...WORKFLOW_IMPORTS.patterns, ...layerPatterns('workflows')] }],
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
  ...LAYERS.flat()
    .filter((folder) => folder !== 'workflows')
    .map((folder) => ({
      files: [`${folder}/**/*.ts`],
      rules: { 'no-restricted-imports': ['error', { patterns: layerPatterns(folder) }] },
    })),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
