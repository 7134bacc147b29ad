import { nextExercise, resolveExercise } from '../choose.ts';
import { readHints } from '../hints.ts';
import { learnerSrc } from '../learner.ts';
import { c, indent, info, mark, progress } from '../output.ts';
import { loadProgress, updateProgress } from '../progress.ts';
import { type Exercise, listLessons } from '../repo.ts';
import { describeResult, type ResultViewOptions } from '../result-view.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { readServiceNeeds } from '../services.ts';
import { hasStretchTests, type StretchPart, splitStretch, stretchGoalText, stretchTestFiles } from '../stretch.ts';
import { requireServices } from './doctor.ts';

/** Print a run's result the way a learner reads it: which behaviour is wrong, and what next. */
export function printResult(result: RunResult, options: ResultViewOptions = {}): void {
  for (const line of describeResult(result, options)) console.log(line);
}

export async function verify(
  query: string | undefined,
  options: { verbose?: boolean; all?: boolean; stretch?: boolean } = {},
): Promise<number> {
  const exercise = resolveExercise(query);
  await requireServices(readServiceNeeds(exercise.dir), { who: `exercise ${exercise.id}` });
  const srcDir = learnerSrc(exercise);
  // --stretch: the main tests and the stretch tests in one run, reported apart (stretch.ts).
  const stretch = options.stretch === true && hasStretchTests(exercise);
  if (options.stretch && !stretch)
    info(
      `Exercise ${exercise.id} has no stretch tests: its stretch goal (the end of exercises/${exercise.name}/README.md) says why. Running its main tests.`,
    );
  const spinner = progress(
    `Testing ${exercise.id} ${exercise.slug} (${exercise.title})${stretch ? ' and its stretch goal' : ''}…`,
  );
  const run = await runExercise({
    exercise,
    srcDir,
    label: `verify-${exercise.id}${stretch ? '-stretch' : ''}`,
    moduleCache: true,
    ...(stretch ? { stretch: 'also' as const, timeoutMs: stretchTimeoutMs(exercise) } : {}),
  });
  spinner.done();
  const { main: result, stretch: extra } = stretch ? splitStretch(run) : { main: run, stretch: undefined };
  printResult(result, { ...options, srcDir });
  if (extra) printStretch(exercise, result, extra, options);
  if (result.status === 'pass') {
    const stretchPassed = extra !== undefined && extra.failed === 0 && extra.passed > 0;
    const before = loadProgress();
    updateProgress((p) => {
      p.solved[exercise.id] ??= new Date().toISOString();
      if (stretchPassed) p.stretch[exercise.id] ??= new Date().toISOString();
    });
    if (!stretch) pointToStretch(exercise, before.stretch[exercise.id]);
    if (extra && !stretchPassed) {
      // The exit code says the stretch failed; say also that the exercise itself is done.
      info(
        `Exercise ${exercise.id} is solved (progress counts it); the stretch goal is optional, and its task is the end of exercises/${exercise.name}/README.md.`,
      );
      return 1;
    }
    const next = nextExercise();
    if (!next) console.log('That was the last exercise. Well done!');
    else if (next.lesson !== exercise.lesson) {
      // The next exercise belongs to a lesson the learner has not read yet: the lesson first.
      const lesson = listLessons().find((l) => l.id === next.lesson);
      console.log(
        `Next: lesson ${next.lesson}${lesson ? ` ${lesson.title}` : ''} — \`npx cachelab read ${next.lesson}\` — then its exercise ${next.id} ${next.slug} (\`npx cachelab verify ${next.id}\`).`,
      );
    } else {
      console.log(
        `Next: ${next.id} ${next.slug} — ${next.title}. Read exercises/${next.name}/README.md, then \`npx cachelab verify ${next.id}\`.`,
      );
    }
    console.log(`Compare with the reference solution: \`npx cachelab diff ${exercise.id}\`.`);
    return 0;
  }
  const hints = readHints(exercise);
  const shown = loadProgress().hints[exercise.id] ?? 0;
  if ((result.status === 'fail' || result.status === 'timeout') && !options.all && result.failed > 3)
    info(`Every failing check with its message: \`npx cachelab verify ${exercise.id} --all\`.`);
  if (hints.length > shown) info(`Stuck? \`npx cachelab hint ${exercise.id}\` (hint ${shown + 1} of ${hints.length}).`);
  info(`Re-run the tests on every save: \`npx cachelab watch ${exercise.id}\`.`);
  return 1;
}

/** A run with the stretch tests has more to do: the exercise's timeout, plus half again. */
function stretchTimeoutMs(exercise: Exercise): number {
  return Math.round(exercise.timeoutSeconds * 1500);
}

/**
 * The stretch checks, apart from the main ones: "✓ stretch: 3 of 3 checks passed" or
 * "✗ stretch: 1 of 3 checks passed", then each failing one with its message (every one: a
 * stretch goal has a few). Nothing when the run did not complete (its message said why).
 */
function printStretch(exercise: Exercise, main: RunResult, stretch: StretchPart, options: { all?: boolean }): void {
  if (main.status === 'error' || (main.status === 'timeout' && stretch.tests.length === 0)) return;
  const total = stretch.passed + stretch.failed;
  if (stretch.failed === 0 && total > 0) {
    console.log(`${mark.ok} stretch: ${total} of ${total} checks passed — the stretch goal of ${exercise.id} is done.`);
    if (options.all) for (const t of stretch.tests) console.log(indent(c.dim(`${mark.ok} ${t.name}`), 2));
    return;
  }
  console.log(`${mark.fail} stretch: ${stretch.passed} of ${total} checks passed.`);
  for (const t of stretch.tests.filter((x) => x.status !== 'pass')) {
    console.log(indent(`${mark.fail} ${t.name}`, 2));
    if (t.message) console.log(indent(t.message, 6));
  }
  if (options.all)
    for (const t of stretch.tests.filter((x) => x.status === 'pass'))
      console.log(indent(c.dim(`${mark.ok} ${t.name}`), 2));
  if (main.status !== 'pass')
    info('The stretch goal builds on the exercise: make the main checks pass first (`solved` counts only those).');
}

/** After a plain verify that passed: the stretch goal exists, and how to check it. */
function pointToStretch(exercise: Exercise, doneAt: string | undefined): void {
  const goal = stretchGoalText(exercise);
  if (!goal) return;
  if (doneAt) {
    info(
      `Stretch goal done on ${doneAt.slice(0, 10)} (\`npx cachelab verify ${exercise.id} --stretch\` checks it again).`,
    );
    return;
  }
  const files = stretchTestFiles(exercise);
  info(
    files.length > 0
      ? `Stretch goal (exercises/${exercise.name}/README.md): ${goal} Check it with \`npx cachelab verify ${exercise.id} --stretch\`.`
      : `Stretch goal, to think through (no tests: its README says why): ${goal}`,
  );
}
