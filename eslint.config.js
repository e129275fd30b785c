// Lint rules that keep the layout of STYLE.md true: libs stay pure, one place per outside system.
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const PROCESS_MODULES = ['apps/worker/src/run-step.ts', 'apps/conductor/src/exec/run-process.ts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**', '**/*.js', '!eslint.config.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    plugins: { 'import-x': importX },
    languageOptions: {
      parserOptions: {
        project: ['./libs/*/tsconfig.json', './apps/*/tsconfig.json', './bench/tsconfig.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    // import-x must parse TypeScript and resolve `./x.js` to `./x.ts` as tsc does: without both,
    // import-x/no-cycle follows no relative import at all, and a cycle passes silently.
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: ['libs/*/tsconfig.json', 'apps/*/tsconfig.json', 'bench/tsconfig.json'],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'import-x/no-duplicates': 'error',
      // A handle assigned once but read earlier by a callback (a signal handler, a timer that
      // close() clears) must stay `let`: declaring it after its readers would not be clearer.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['libs/*/src/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'process'],
      'no-restricted-imports': [
        'error',
        {
          patterns: ['@maestro/*/src/*'],
          paths: ['bullmq', 'ioredis', 'execa', 'pino', 'node:fs', 'node:fs/promises', 'node:child_process'],
        },
      ],
    },
  },
  // One place per outside system in each app: BullMQ under src/queue, ioredis under src/redis*,
  // execa in the module that starts processes (worker: run-step.ts; conductor: run-process.ts).
  {
    files: ['apps/*/src/**/*.ts'],
    ignores: ['apps/*/src/queue/**', 'apps/*/src/redis/**', 'apps/*/src/redis.ts', ...PROCESS_MODULES],
    rules: { 'no-restricted-imports': ['error', { paths: ['bullmq', 'ioredis', 'execa'] }] },
  },
  {
    files: ['apps/*/src/queue/**/*.ts', 'apps/*/src/redis/**/*.ts', 'apps/*/src/redis.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: ['execa'] }] },
  },
  {
    files: PROCESS_MODULES,
    rules: { 'no-restricted-imports': ['error', { paths: ['bullmq', 'ioredis'] }] },
  },
);
