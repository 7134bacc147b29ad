import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatch, parsePatch } from 'diff';
import type { Exercise } from './repo.ts';
import { RUNS_DIR } from './runner/workspace.ts';

/**
 * The catalog of wrong answers an exercise's tests must fail: `solutions/NN-slug/wrong/*.patch`,
 * each a small unified diff of the solution's `src/` (the mistakes an engineer really makes:
 * a TTL's unit, a key that misses a parameter, an order of invalidation, a failure path,
 * a bound on one side only), opened by `#` lines that say what is wrong and why a learner
 * would write it. The lines after them are the patch, as `git diff` or `diff -u` writes it
 * (paths `a/src/app.ts`, `src/app.ts` or `app.ts`, relative to the exercise or its src/).
 *
 * `cachelab check` applies each one to a copy of the solution and runs the exercise's tests:
 * every wrong answer must fail, and the check names the test that caught it.
 *
 *   # The TTL is given in milliseconds (PX) where seconds (EX) are meant: 30 ms, not 30 s.
 *   # ioredis's examples show both; the test reads PTTL right after the write.
 *   --- a/src/app.ts
 *   +++ b/src/app.ts
 *   @@ -40,7 +40,7 @@
 *   …
 */

export interface WrongAnswer {
  /** The file name without `.patch`: `ttl-in-milliseconds`. */
  name: string;
  /** The `#` lines, joined: what is wrong, and why a learner writes it. */
  why: string;
  file: string;
}

export const MIN_WRONG_ANSWERS = 6;

export function wrongAnswersDir(exercise: Exercise): string {
  return join(exercise.solutionDir, 'wrong');
}

export function listWrongAnswers(exercise: Exercise): WrongAnswer[] {
  const dir = wrongAnswersDir(exercise);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const why = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line, i, lines) => line.startsWith('#') && lines.slice(0, i).every((l) => l.startsWith('#')))
        .map((line) => line.replace(/^#\s?/, ''))
        .join(' ')
        .trim();
      return { name: f.replace(/\.patch$/, ''), why, file };
    });
}

/** `a/src/app.ts`, `b/app.ts`, `src/app.ts` → `app.ts` (a path inside src/). */
function srcPath(name: string | undefined): string {
  return (name ?? '').replace(/^[ab]\//, '').replace(/^src\//, '');
}

/**
 * A copy of the solution's src/ with the wrong answer applied, in a scratch folder; throws
 * an Error that names the file when the patch no longer applies (the solution changed).
 */
export function applyWrongAnswer(exercise: Exercise, wrong: WrongAnswer): { srcDir: string; dispose(): void } {
  return applySolutionPatch(exercise, wrong.file, `wrong answer ${wrong.name}`, `wrong-${exercise.id}-${wrong.name}`);
}

/**
 * A copy of the solution's src/ with the patch `file` applied (a wrong answer, or the stretch
 * solution, stretch.ts), in a scratch folder named after `label`; throws an Error that starts
 * with `what` when the patch holds no diff or no longer applies.
 */
export function applySolutionPatch(
  exercise: Exercise,
  file: string,
  what: string,
  label: string,
): { srcDir: string; dispose(): void } {
  const root = join(RUNS_DIR, `${label}-${process.pid}`);
  const srcDir = join(root, 'src');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  cpSync(join(exercise.solutionDir, 'src'), srcDir, { recursive: true });
  const dispose = () => rmSync(root, { recursive: true, force: true });
  try {
    const patches = parsePatch(readFileSync(file, 'utf8'));
    if (patches.length === 0 || patches.every((p) => p.hunks.length === 0))
      throw new Error('it holds no diff (the lines after the # comments must be a unified diff)');
    for (const patch of patches) {
      const target = join(srcDir, srcPath(patch.newFileName ?? patch.oldFileName));
      if (!existsSync(target)) throw new Error(`it patches ${srcPath(patch.oldFileName)}, which src/ does not have`);
      const patched = applyPatch(readFileSync(target, 'utf8'), patch);
      if (patched === false)
        throw new Error(`it no longer applies to src/${srcPath(patch.oldFileName)} (the solution changed)`);
      writeFileSync(target, patched);
    }
  } catch (err) {
    dispose();
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  return { srcDir, dispose };
}
