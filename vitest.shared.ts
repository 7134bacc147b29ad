import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The one vitest configuration every package extends (`vitest.config.ts` re-exports it).
 * Real services: the global setup checks PostgreSQL and Redis answer and that the data is
 * seeded, once per run. Files run in parallel; each isolates itself through testkit.
 */
export default defineConfig({
  test: {
    globalSetup: [fileURLToPath(new URL('./packages/testkit/src/global-setup.ts', import.meta.url))],
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
