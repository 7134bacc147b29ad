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
    // Before every test file, so before the learner's code: freeze the assertion machinery.
    setupFiles: [fileURLToPath(new URL('./grading-setup.ts', import.meta.url))],
    // Tripwires are told apart from the real tests by where they are (tripwires.ts).
    includeTaskLocation: true,
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One worker per run: the grader runs several runs at once, each its own process tree.
    maxWorkers: 1,
    fileParallelism: false,
    allowOnly: false,
    retry: 0,
    passWithNoTests: false,
    watch: false,
    printConsoleTrace: false,
  },
});
