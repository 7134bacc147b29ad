import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exercise } from '../src/repo.ts';

/** The runner's own fixture exercise (fixtures/exercises/01-fixture: 10 points, 3 tests). */
export const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const fixtureExercise: Exercise = {
  id: '01',
  slug: 'fixture',
  name: '01-fixture',
  title: 'fixture',
  lesson: '01',
  points: 10,
  timeoutSeconds: 60,
  dir: join(fixturesDir, 'exercises', '01-fixture'),
  solutionDir: join(fixturesDir, 'variants', 'right'),
};

/**
 * The runner's fixture for progress and hangs (fixtures/runner/01-fixture-async: 4 async
 * checks of 2 s each). Kept out of fixtures/exercises, which the grader's tests grade whole.
 */
export const asyncFixtureExercise: Exercise = {
  id: '01',
  slug: 'fixture-async',
  name: '01-fixture-async',
  title: 'fixture-async',
  lesson: '01',
  points: 10,
  timeoutSeconds: 60,
  dir: join(fixturesDir, 'runner', '01-fixture-async'),
  solutionDir: join(fixturesDir, 'variants', 'greet-right'),
};
