import { nextExercise, resolveExercise } from '../choose.ts';
import { readHints } from '../hints.ts';
import { learnerSrc } from '../learner.ts';
import { info, progress } from '../output.ts';
import { loadProgress, updateProgress } from '../progress.ts';
import { listLessons } from '../repo.ts';
import { describeResult, type ResultViewOptions } from '../result-view.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { readServiceNeeds } from '../services.ts';
import { requireServices } from './doctor.ts';

/** Print a run's result the way a learner reads it: which behaviour is wrong, and what next. */
export function printResult(result: RunResult, options: ResultViewOptions = {}): void {
  for (const line of describeResult(result, options)) console.log(line);
}

export async function verify(
  query: string | undefined,
  options: { verbose?: boolean; all?: boolean } = {},
): Promise<number> {
  const exercise = resolveExercise(query);
  await requireServices(readServiceNeeds(exercise.dir), { who: `exercise ${exercise.id}` });
  const srcDir = learnerSrc(exercise);
  const spinner = progress(`Testing ${exercise.id} ${exercise.slug} (${exercise.title})…`);
  const result = await runExercise({ exercise, srcDir, label: `verify-${exercise.id}`, moduleCache: true });
  spinner.done();
  printResult(result, { ...options, srcDir });
  if (result.status === 'pass') {
    updateProgress((p) => {
      p.solved[exercise.id] ??= new Date().toISOString();
    });
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
