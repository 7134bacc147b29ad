import { join } from 'node:path';
import type { Exercise } from './repo.ts';
import { REPO_ROOT } from './repo.ts';

/**
 * Where the learner's own code lives: `<root>/exercises/NN-slug/src`. The root is the
 * repository, unless `CACHELAB_LEARNER_ROOT` names another folder with the same layout —
 * a copy to practise on, or the workshop's own tests, which must never touch the real
 * starters. The tests, hints and solutions always come from the repository itself.
 */
export function learnerRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.CACHELAB_LEARNER_ROOT?.trim() || REPO_ROOT;
}

/** The src/ folder `verify`, `watch`, `diff` and `reset` work on for this exercise. */
export function learnerSrc(exercise: Exercise, env: NodeJS.ProcessEnv = process.env): string {
  return join(learnerRoot(env), 'exercises', exercise.name, 'src');
}

/**
 * Can we ask the person a question? Only with a terminal on both ends and outside CI: a
 * pipe, a redirect or `CI=true` means nobody is there to answer, so commands must not wait.
 */
export function isInteractive(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  const inCi = ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
  return process.stdin.isTTY === true && process.stdout.isTTY === true && !inCi;
}
