import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The configuration every graded run uses — verify, check and grade alike. It belongs to
 * the workshop, not to the exercise or the submission, so nobody's own vitest config,
 * `.only` or `.skip` changes what is run. The root (the run's workspace) comes from --root.
 */
export default defineConfig({
  test: {
    globalSetup: [fileURLToPath(new URL('../../../testkit/src/global-setup.ts', import.meta.url))],
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One worker per run: the grader runs several runs at once, each its own process tree.
    maxWorkers: 1,
    fileParallelism: false,
    allowOnly: false,
    passWithNoTests: false,
    watch: false,
    printConsoleTrace: false,
  },
});
