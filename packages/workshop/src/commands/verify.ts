import { relative } from 'node:path';
import { readHints } from '../hints.ts';
import { c, fail, indent, info, mark, ok, progress, UserError } from '../output.ts';
import { loadProgress, updateProgress } from '../progress.ts';
import { type Exercise, findExercise, listExercises, REPO_ROOT } from '../repo.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { requireServices } from './doctor.ts';

/** The exercise `verify` picks when none is named: the first one not yet solved. */
export function nextExercise(): Exercise | undefined {
  const solved = loadProgress().solved;
  return listExercises().find((e) => !solved[e.id]);
}

export function resolveExercise(query: string | undefined): Exercise {
  if (query === undefined) {
    const next = nextExercise();
    if (!next) throw new UserError('Every exercise is solved. 🎉 Run `npx cachelab progress` to see them all.', 0);
    return next;
  }
  const exercise = findExercise(query);
  if (!exercise) {
    const ids = listExercises()
      .map((e) => e.id)
      .join(', ');
    throw new UserError(`There is no exercise "${query}". Exercises: ${ids}. List them with \`npx cachelab\`.`, 2);
  }
  return exercise;
}

/** Print a run's result the way a learner reads it: which behaviour is wrong, and what next. */
export function printResult(result: RunResult, options: { verbose?: boolean } = {}): void {
  const e = result.exercise;
  const where = relative(REPO_ROOT, `${e.dir}/src`);
  if (result.status === 'pass') {
    ok(`${e.id} ${e.slug} passed: ${result.message} ${c.dim(`(${(result.durationMs / 1000).toFixed(1)} s)`)}`);
    return;
  }
  if (result.status === 'error' || result.status === 'timeout') {
    fail(`${e.id} ${e.slug}: ${result.message}`);
    if (options.verbose && result.output) console.log(indent(result.output.trim().split('\n').slice(-30).join('\n')));
    return;
  }
  fail(`${e.id} ${e.slug} failed: ${result.message}  ${c.dim(where)}`);
  for (const t of result.tests) {
    if (t.status === 'pass') {
      console.log(`  ${mark.ok} ${t.name}`);
    } else if (t.status === 'fail' || t.status === 'error') {
      console.log(`  ${mark.fail} ${c.bold(t.name)}`);
      if (t.message) console.log(indent(t.message, 6));
    }
  }
}

export async function verify(query: string | undefined, options: { verbose?: boolean } = {}): Promise<number> {
  const exercise = resolveExercise(query);
  await requireServices();
  const spinner = progress(`Testing ${exercise.id} ${exercise.slug} (${exercise.title})…`);
  const result = await runExercise({ exercise, srcDir: `${exercise.dir}/src`, label: `verify-${exercise.id}` });
  spinner.done();
  printResult(result, options);
  if (result.status === 'pass') {
    updateProgress((p) => {
      p.solved[exercise.id] ??= new Date().toISOString();
    });
    const next = nextExercise();
    console.log(
      next
        ? `Next: ${next.id} ${next.slug} — ${next.title}. Read exercises/${next.name}/README.md, then \`npx cachelab verify ${next.id}\`.`
        : 'That was the last exercise. Well done!',
    );
    console.log(`Compare with the reference solution: \`npx cachelab diff ${exercise.id}\`.`);
    return 0;
  }
  const hints = readHints(exercise);
  const shown = loadProgress().hints[exercise.id] ?? 0;
  if (hints.length > shown) info(`Stuck? \`npx cachelab hint ${exercise.id}\` (hint ${shown + 1} of ${hints.length}).`);
  return 1;
}
