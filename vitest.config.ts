import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@maestro/spec': src('libs/spec'),
      '@maestro/dag': src('libs/dag'),
      '@maestro/protocol': src('libs/protocol'),
      '@maestro/secrets': src('libs/secrets'),
    },
  },
  test: {
    // Two test files at a time on this 2-core machine: the end-to-end and Slurm files spend most
    // of their time waiting for processes, allocations and walltimes.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{libs,apps}/*/test/**/*.test.ts', 'test/shape/**/*.test.ts'],
          exclude: [...configDefaults.exclude, '**/*.int.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['apps/*/test/**/*.int.test.ts'],
          globalSetup: ['test/setup/redis.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts', 'test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/redis.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          // Against a real Slurm cluster on this machine (test/setup/slurm.ts starts it).
          name: 'slurm',
          include: ['test/slurm/**/*.slurm.test.ts'],
          globalSetup: ['test/setup/slurm.ts'],
          testTimeout: 240_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
