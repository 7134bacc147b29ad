import { defineConfig } from 'vitest/config';
import grading from './vitest.grading.config.ts';

/**
 * The grading configuration plus the exercise's stretch tests (`stretch/*.test.ts`, beside
 * test/): `cachelab verify NN --stretch` and check's stretch runs only (RunOptions.stretch).
 * Graded runs never use it: vitest.grading.config.ts includes test/ alone, so a stretch test is
 * never required, never in grade's manifest and never planted with tripwires. A run of the
 * stretch tests alone (check's must-fail run) narrows this with a file filter.
 */
export default defineConfig({
  ...grading,
  test: { ...grading.test, include: ['test/**/*.test.ts', 'stretch/**/*.test.ts'] },
});
